"""`after run` with TAPT methods: the encoder is adapted once per fold on its training clips, then shared.

A tiny random-init Whisper encoder (tests/backbones/tiny_encoders.py) keeps the grid fast; the cells use it
frozen (embedding learner), the TAPT stage adapts it for a few steps.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file

from after.data.folds import read_folds
from after.experiments.cell import cell_dir_name
from after.experiments.grid import run_grid
from after.results.store import ResultsStore
from after.tapt.trainer import TaptTrainer
from grid_corpus import write_grid

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
from tiny_encoders import make_tiny  # noqa: E402


@pytest.fixture
def tapt_grid(tmp_path):
    encoder = make_tiny("whisper", tmp_path / "tiny_whisper")
    grid = write_grid(tmp_path, methods=["FT+Random", "TAPT+FT+Random", "AFTER"], label_ratios=[0.3, 0.6],
                      folds=[1, 2], tapt={"overrides": ["steps=3", "batch_seconds=4", "log_every=1"]},
                      al_overrides=[f"learner.backbone={encoder}"])
    return grid, encoder


def spy_tapt_training(monkeypatch) -> list[int]:
    calls = []
    original = TaptTrainer.run

    def run(self, progress=None):
        calls.append(self.cfg.fold)
        return original(self, progress)

    monkeypatch.setattr(TaptTrainer, "run", run)
    return calls


def test_tapt_runs_once_per_fold_on_its_training_clips_and_its_cells_use_the_adapted_encoder(
        tapt_grid, tmp_path, monkeypatch):
    grid, encoder = tapt_grid
    trained = spy_tapt_training(monkeypatch)
    run = tmp_path / "run"
    out = run_grid(grid, [], run, report=False)
    assert out["ran"] == 12 and not out["failed"], out["failed"]
    assert sorted(trained) == [1, 2]        # 8 TAPT cells, 2 folds: one adaptation per fold

    rows = {c["cell_key"]: c for c in ResultsStore(run).cells()}
    folds = {f.index: f for f in read_folds(tmp_path / "corpus" / "folds.csv")}
    original = load_file(str(Path(encoder) / "model.safetensors"))
    for k in (1, 2):
        record = json.loads((run / "tapt" / f"fold{k}" / "backbone" / "tapt.json").read_text())
        # the fold's training clips only: never a validation or test clip of that fold
        assert set(record["clip_ids"]) == set(folds[k].train)
        assert not set(record["clip_ids"]) & (set(folds[k].val) | set(folds[k].test))
        adapted = load_file(str(run / "tapt" / f"fold{k}" / "backbone" / "model.safetensors"))
        assert any(not np.allclose(adapted[n].numpy(), original[n].numpy()) for n in adapted if n in original)
        for method in ("TAPT+FT+Random", "AFTER"):
            for ratio in (0.3, 0.6):
                cell = rows[f"{method}/r{ratio:g}/f{k}/s0"]
                assert cell["config"]["learner"]["backbone"] == str(run / "tapt" / f"fold{k}" / "backbone")
                assert cell["seconds"]["tapt"] == pytest.approx(record["train_s"]) and cell["seconds"]["tapt"] > 0
        # the TAPT cell's pool embeddings come from the adapted encoder, not the original one
        plain = np.load(run / "cells" / cell_dir_name(f"FT+Random/r0.3/f{k}/s0") / "pool_embeddings.npy")
        tapt = np.load(run / "cells" / cell_dir_name(f"TAPT+FT+Random/r0.3/f{k}/s0") / "pool_embeddings.npy")
        assert plain.shape == tapt.shape and not np.allclose(plain, tapt, atol=1e-4)
    for key, cell in rows.items():
        assert cell["bundle_path"] == str(run / "cells" / cell_dir_name(key) / "model")
        assert (Path(cell["bundle_path"]) / "bundle.json").is_file()
        assert ("tapt" in cell["seconds"]) == cell["tapt"]
        if not cell["tapt"]:
            assert cell["config"]["learner"]["backbone"] == encoder
    assert {rows[k]["strategy"] for k in rows if k.startswith("AFTER")} == {"entropy"}
    assert {rows[k]["init"] for k in rows if k.startswith("AFTER")} == {"kmeans"}

    # rerun: every cell skipped, no TAPT trained again
    trained.clear()
    again = run_grid(grid, [], run, report=False)
    assert again["skipped"] == 12 and again["ran"] == 0 and trained == []


def test_a_new_seed_reuses_the_finished_tapt_encoder(tapt_grid, tmp_path, monkeypatch):
    grid, _ = tapt_grid
    run = tmp_path / "run"
    run_grid(grid, ["methods=[AFTER]", "folds=[1]", "label_ratios=[0.3]"], run, report=False)
    trained = spy_tapt_training(monkeypatch)
    seen = set()
    out = run_grid(grid, ["methods=[AFTER]", "folds=[1]", "label_ratios=[0.3]", "seeds=[0,1]"], run, report=False,
                   cell_progress=lambda key, stage, done, total: seen.add((key, stage, done == total)))
    assert out["ran"] == 1 and not out["failed"] and trained == []
    assert ("AFTER/r0.3/f1/s1", "embeddings", True) in seen    # the progress bar of the cell that ran
    cells = ResultsStore(run).cells()
    assert len({c["seconds"]["tapt"] for c in cells}) == 1      # both seeds count the same, shared TAPT


def test_a_missing_tapt_config_file_is_named(tapt_grid, tmp_path):
    from after.config import ConfigError
    grid, _ = tapt_grid
    cfg = yaml.safe_load(grid.read_text())
    cfg["tapt"] = {"config": "nope.yaml"}
    grid.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="nope.yaml"):
        run_grid(grid, [], tmp_path / "run")


def test_changed_tapt_settings_are_refused_once_tapt_cells_finished(tapt_grid, tmp_path):
    """Every cell is done, so no TAPT stage would run again to notice: the grid's own fingerprint must."""
    from after.experiments.rundir import RunDirectoryError
    grid, _ = tapt_grid
    run, only = tmp_path / "run", ["methods=[AFTER]", "folds=[1]", "label_ratios=[0.3]"]
    assert not run_grid(grid, only, run, report=False)["failed"]
    cfg = yaml.safe_load(grid.read_text())
    cfg["tapt"]["overrides"] = ["steps=4", "batch_seconds=4", "log_every=1"]
    grid.write_text(yaml.safe_dump(cfg))
    with pytest.raises(RunDirectoryError, match=r"tapt\.steps \(3 -> 4\)"):
        run_grid(grid, only, run, report=False)
    # leaving the TAPT methods out does not make the finished cells forget what they were made with
    assert run_grid(grid, only + ["methods=[FT+Random]"], run, report=False)["ran"] == 1
    with pytest.raises(RunDirectoryError, match=r"tapt\.steps"):
        run_grid(grid, only, run, report=False)


def test_a_tapt_method_added_to_a_finished_grid_runs(tapt_grid, tmp_path, monkeypatch):
    grid, _ = tapt_grid
    run = tmp_path / "run"
    only = ["folds=[1]", "label_ratios=[0.3]"]
    assert run_grid(grid, only + ["methods=[FT+Random]"], run, report=False)["ran"] == 1
    trained = spy_tapt_training(monkeypatch)
    out = run_grid(grid, only + ["methods=[FT+Random,AFTER]"], run, report=False)
    assert out["skipped"] == 1 and out["ran"] == 1 and not out["failed"] and trained == [1]
