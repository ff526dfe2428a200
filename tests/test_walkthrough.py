"""The README's walk-through, run as written: unlabelled folder -> prepare audio --segment vad -> after al with
the file oracle for two rounds (a script stands in for the person) -> after predict -> predictions.csv.

Each line of the README block runs in a copy of the layout (``W/repo`` with the examples, ``W/shared`` the
shared data and models), with ``after`` meaning this checkout's CLI. A line whose comment says "exits 3"
must exit 3, every other line 0. Skipped, with the reason, where ../shared is absent.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def walkthrough_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- walkthrough:begin -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert block, "README.md lost its walk-through block (<!-- walkthrough:begin --> ... end)"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_walkthrough_runs_as_written(tmp_path):
    needed = [SHARED / "data" / "ravdess" / "audio", SHARED / "models" / "whisper-tiny.en"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"the walk-through needs ../shared (missing: {', '.join(missing)})")
    work = tmp_path / "repo"
    shutil.copytree(REPO / "examples", work / "examples")
    os.symlink(SHARED.resolve(), tmp_path / "shared")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "AFTER_CACHE": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200"}
    shell_prelude = f'after() {{ "{sys.executable}" -m after.cli "$@"; }}; python() {{ "{sys.executable}" "$@"; }}; '
    printed = []
    for line in walkthrough_lines():
        expect = 3 if "exits 3" in line else 0
        done = subprocess.run(["bash", "-c", shell_prelude + line], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)
        printed.append(done.stdout)
        assert done.returncode == expect, f"{line}\n-> exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"

    pool = list(csv.DictReader(open(work / "runs/walk/pool.csv")))
    long = [r for r in pool if "long_recording" in r["path"]]
    assert len(long) == 6 and all(r["emotion"] == "" and r["start_s"] and r["end_s"] for r in long)
    assert "Labels needed: 13 clip(s)" in " ".join(printed[2].split())
    run = work / "runs/walk/run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["rounds"] == 2 and summary["n_val_labels"] == 8 and summary["test_ua"] is None
    assert summary["n_labels_total"] == summary["n_labelled"] + 8 and summary["classes"] == ["angry", "happy", "neutral", "sad"]
    assert "No test figures: data.test is not given" in " ".join(printed[6].split())
    sheet = list(csv.DictReader(open(run / "to_label.csv")))
    assert all(Path(r["path"]).is_file() and r["label"] for r in sheet)
    assert any(r["round"] == "1" and r["predicted"] and r["probability"] for r in sheet)
    predictions = list(csv.DictReader(open(work / "runs/walk/predictions.csv")))
    assert len(predictions) == 8
    assert list(predictions[0])[:6] == ["id", "path", "start_s", "end_s", "label", "confidence"]
    assert {k for k in predictions[0] if k.startswith("p_")} == {"p_angry", "p_happy", "p_neutral", "p_sad"}
    assert all(abs(sum(float(r[f"p_{c}"]) for c in ("angry", "happy", "neutral", "sad")) - 1) < 1e-3 for r in predictions)
    segments = list(csv.DictReader(open(work / "runs/walk/long.csv")))
    truth = list(csv.DictReader(open(work / "runs/walk/answers.csv")))
    assert len(segments) == len(truth) == 6                          # one prediction per spoken stretch
    for seg, t in zip(segments, truth):
        assert float(t["start_s"]) - 0.25 <= float(seg["start_s"]) < float(seg["end_s"]) <= float(t["end_s"]) + 0.25
