"""`after run`: the grid over a tiny tone corpus; resumable after kill -9, each cell stored once."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from after.cli import main as cli
from after.config import ConfigError
from after.experiments.grid import run_grid
from after.results.store import ResultsStore
from grid_corpus import write_grid


def table(run_dir: Path) -> list[tuple]:
    """The results table: one row per cell, the numbers a report is built from."""
    return [(c["cell_key"], c["test_ua"], c["test_wa"], c["test_f1"], c["n_labelled"], c["n_val_labels"],
             tuple(map(tuple, c["confusion"]))) for c in ResultsStore(run_dir).cells()]


def test_grid_stores_every_cell_and_writes_the_report(tmp_path, capsys):
    grid = write_grid(tmp_path)
    assert cli(["run", str(grid), "-o", str(tmp_path / "run")]) == 0
    run = tmp_path / "run"
    rows = ResultsStore(run).cells()
    assert len(rows) == 8 and {r["status"] for r in rows} == {"done"}
    assert {(r["method"], r["label_ratio"]) for r in rows} == {(m, q) for m in ("FT+Random", "FT+Entropy")
                                                               for q in (0.3, 0.6)}
    for r in rows:
        assert r["n_labelled"] / r["pool_size"] == pytest.approx(r["label_ratio"], abs=0.05)
        assert r["n_val_labels"] > 0 and r["config"]["strategy"] == r["strategy"] and len(r["config_hash"]) == 64
        assert set(r["seconds"]) == {"setup", "selection", "train", "evaluate"}
        assert sum(map(sum, r["confusion"])) > 0
    for name in ("report.html", "report.md", "results.sqlite", "ua_vs_ratio.png", "tsne_selection.png"):
        assert (run / name).is_file()
    assert str(run / "report.html") in capsys.readouterr().out
    # rerun: nothing recomputed (finish times unchanged), nothing stored twice
    before = {r["cell_key"]: r["finished_at"] for r in rows}
    out = run_grid(grid, [], run)
    assert out["skipped"] == 8 and out["ran"] == 0
    assert {r["cell_key"]: r["finished_at"] for r in ResultsStore(run).cells()} == before


def test_unknown_method_and_bad_ratio_are_refused(tmp_path):
    grid = write_grid(tmp_path)
    with pytest.raises(ConfigError, match="method 'FT\\+Nope' is unknown"):
        run_grid(grid, ["methods=[FT+Nope]"], tmp_path / "a")
    with pytest.raises(ConfigError, match="label_ratios"):
        run_grid(grid, ["label_ratios=[0.05]"], tmp_path / "b")


def test_kill_the_grid_half_way_then_rerun(tmp_path):
    grid = write_grid(tmp_path)
    run_grid(grid, [], tmp_path / "reference", report=False)
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "after.cli", "run", str(grid), "-o", str(run)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, done = time.time() + 300, 0
    while proc.poll() is None and time.time() < deadline:
        if (run / "results.sqlite").is_file():
            try:
                with sqlite3.connect(run / "results.sqlite", timeout=30) as conn:
                    done = conn.execute("SELECT COUNT(*) FROM cells WHERE status='done'").fetchone()[0]
            except sqlite3.OperationalError:    # the tables are being created
                pass
            if done >= 3:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and 3 <= done < 8, "the grid was not caught half way"
    finished = {c["cell_key"]: c["finished_at"] for c in ResultsStore(run).cells()}
    out = run_grid(grid, [], run)
    assert out["skipped"] == len(finished) and out["ran"] == 8 - len(finished) and not out["failed"]
    after = ResultsStore(run).cells()
    assert all(c["finished_at"] == finished[c["cell_key"]] for c in after if c["cell_key"] in finished)
    with sqlite3.connect(run / "results.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT cell_key) FROM cells").fetchone() == (8, 8)
        n_rounds = conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
    assert n_rounds == sum(len(ResultsStore(run).rounds(c["id"])) for c in after) == 8 * 3
    assert table(run) == table(tmp_path / "reference")        # nothing lost, same numbers as uninterrupted


def test_a_tapt_method_is_one_table_entry_and_its_encoder_is_made_once_per_fold(tmp_path, monkeypatch):
    from after.experiments import methods
    from after.experiments.grid import TaptEncoder

    monkeypatch.setitem(methods.METHODS, "TAPT+FT+Random", methods.Method("random", tapt=True))
    grid = write_grid(tmp_path, methods=["FT+Random", "TAPT+FT+Random"], label_ratios=[0.3])
    with pytest.raises(ConfigError, match="needs a TAPT encoder per fold"):
        run_grid(grid, [], tmp_path / "no_tapt")
    calls = []

    def tapt_stage(fold: int, folder: Path) -> TaptEncoder:
        # plumbing only: the "adapted" encoder here is the log-mel front end the other cells use
        calls.append((fold, folder.name))
        return TaptEncoder("logmel", 12.5)

    out = run_grid(grid, [], tmp_path / "run", tapt_stage=tapt_stage, report=False)
    assert out["ran"] == 4 and not out["failed"] and calls == [(1, "fold1"), (2, "fold2")]
    rows = {c["cell_key"]: c for c in ResultsStore(tmp_path / "run").cells()}
    tapt = [c for c in rows.values() if c["tapt"]]
    assert len(tapt) == 2 and all(c["seconds"]["tapt"] == 12.5 and c["config"]["learner"]["backbone"] == "logmel"
                                  for c in tapt)
    assert all("tapt" not in c["seconds"] for c in rows.values() if not c["tapt"])
