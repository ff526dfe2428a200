"""`after run` with GMP-ATL as a grid method: trained once on a random labelled share of the fold's pool.

A tiny random-init Whisper encoder (tests/backbones/tiny_encoders.py) keeps it fast: the FT + Random cells
use it frozen (embedding learner), the GMP-ATL cell fine-tunes it through its four stages.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from after.config import ConfigError
from after.data.folds import read_folds
from after.experiments import gmpatl as gmpatl_run
from after.experiments.cell import cell_dir_name
from after.experiments.gmpatl_cell import pool_share
from after.experiments.grid import run_grid
from after.results.store import ResultsStore
from after.training.gmpatl import pseudolabels, stages
from grid_corpus import write_grid

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
from tiny_encoders import make_tiny  # noqa: E402

TINY = ["model.freeze=none", "head.hidden_dim=16", "head.dropout=0.0",
        "multitask.max_epochs=2", "multitask.patience=1", "multitask.batch_seconds=4", "multitask.lr=1e-3",
        "pseudo_labels.layer=1", "pseudo_labels.n_clusters=[4, 8]", "pseudo_labels.max_frames=2000",
        "pseudo_labels.batch_size=256", "retrain.epochs=1", "retrain.batch_seconds=4", "retrain.mask_span=3",
        "retrain.mask_prob=0.2", "finetune.max_epochs=2", "finetune.patience=1", "finetune.batch_seconds=4",
        "finetune.lr=1e-3", "emotion_loss.scale=10.0"]
KEY = "GMP-ATL/r0.6/f1/s0"


@pytest.fixture
def grid(tmp_path):
    encoder = make_tiny("whisper", tmp_path / "tiny_whisper")
    return write_grid(tmp_path, methods=["FT+Random", "GMP-ATL"], label_ratios=[0.6], folds=[1], seeds=[0],
                      al_overrides=[f"learner.backbone={encoder}"], gmpatl={"overrides": TINY})


class Spy:
    """Records the clip ids every GMP-ATL stage is handed (through the manifest the run loaded)."""

    def __init__(self, monkeypatch, interrupt_finetune: bool = False):
        self.ids: dict[str, list[set]] = {}
        self.manifest = None
        self.interrupt = interrupt_finetune
        fold_rows = gmpatl_run._fold_rows

        def spy_fold_rows(cfg, manifest, folds, train_ids=None):
            self.manifest = manifest
            return fold_rows(cfg, manifest, folds, train_ids)

        monkeypatch.setattr(gmpatl_run, "_fold_rows", spy_fold_rows)
        for module, name, arg in ((stages, "multitask", 2), (stages, "retrain", 2), (stages, "finetune", 2),
                                  (stages, "predict", 2), (pseudolabels, "training_frames", 2)):
            monkeypatch.setattr(module, name, self._wrap(name, getattr(module, name), arg))
        self._wrap_val(monkeypatch)

    def _record(self, name, rows):
        self.ids.setdefault(name, []).append({self.manifest[int(i)].id for i in rows})

    def _wrap(self, name, fn, arg):
        def wrapped(*args, **kwargs):
            self._record(name, args[arg])
            if name == "finetune" and self.interrupt:
                raise KeyboardInterrupt       # the process dies during stage 4: stages 1-3 are on disk
            return fn(*args, **kwargs)
        return wrapped

    def _wrap_val(self, monkeypatch):
        for name in ("multitask", "finetune"):          # (model, clips, train, val, ...): val early-stops
            inner = getattr(stages, name)

            def with_val(*args, _inner=inner, _name=name, **kwargs):
                self._record(f"{_name}_val", args[3])
                return _inner(*args, **kwargs)
            monkeypatch.setattr(stages, name, with_val)

    def trained_on(self) -> set:
        return set().union(*(s for n in ("multitask", "training_frames", "retrain", "finetune")
                             for s in self.ids.get(n, [])))


def test_gmpatl_cell_trains_on_its_pool_share_only_is_stored_reported_and_not_recomputed(grid, tmp_path,
                                                                                        monkeypatch):
    spy = Spy(monkeypatch)
    run = tmp_path / "run"
    out = run_grid(grid, [], run)
    assert out["ran"] == 2 and not out["failed"], out["failed"]
    store = ResultsStore(run)
    rows = {c["cell_key"]: c for c in store.cells()}
    assert set(rows) == {"FT+Random/r0.6/f1/s0", KEY}
    cell = rows[KEY]
    fold = {f.index: f for f in read_folds(tmp_path / "corpus" / "folds.csv")}[1]

    # evaluation is sacred: every stage trained on the cell's share of the pool, never a val or test clip
    share = store.artifacts(cell["id"])["train_ids"]["value"]
    assert share == pool_share(list(fold.train), 0.6, 0)
    assert spy.trained_on() == set(share) and set(share) <= set(fold.train)
    assert not spy.trained_on() & (set(fold.val) | set(fold.test))
    assert all(s == set(fold.val) for n in ("multitask_val", "finetune_val") for s in spy.ids[n])
    assert spy.ids["predict"] == [set(fold.test)]
    # the row: like any cell, without rounds
    assert cell["method"] == "GMP-ATL" and cell["strategy"] == "none" and not cell["baseline"]
    assert cell["pool_size"] == len(fold.train) and cell["n_labelled"] == len(share) == round(0.6 * len(fold.train))
    assert cell["n_val_labels"] == len(fold.val) and cell["aulc"] is None and store.rounds(cell["id"]) == []
    assert set(cell["seconds"]) == {"setup", "multitask", "pseudo_labels", "retrain", "train", "evaluate"}
    assert all(v >= 0 for v in cell["seconds"].values()) and cell["seconds"]["train"] > 0
    assert 0 <= cell["test_ua"] <= 1 and 0 <= cell["test_wa"] <= 1 and cell["device"] == "cpu"
    assert sum(map(sum, cell["confusion"])) == len(fold.test) and len(cell["classes"]) == 3
    assert cell["bundle_path"] == str(run / "cells" / cell_dir_name(KEY) / "model")
    assert (Path(cell["bundle_path"]) / "bundle.json").is_file()
    assert cell["config"]["fold"] == 1 and cell["config"]["seed"] == 0
    assert cell["config"]["model"]["backbone"] == str((tmp_path / "tiny_whisper").resolve())
    # the report: in the tables and plots, no picks or curve invented for it
    md = (run / "report.md").read_text()
    assert "GMP-ATL UA" in md and "multitask" in md and "GMP-ATL: no rounds" in md
    assert (run / "confusion_GMP_ATL.png").is_file() and (run / "ua_vs_ratio.png").is_file()
    assert not (run / "tsne_selection.png").exists()       # FT+Random has no acquiring partner here
    # rerun: nothing recomputed, nothing stored twice
    calls = {n: len(v) for n, v in spy.ids.items()}
    before = {k: c["finished_at"] for k, c in rows.items()}
    again = run_grid(grid, [], run)
    assert again["skipped"] == 2 and again["ran"] == 0
    assert {c["cell_key"]: c["finished_at"] for c in ResultsStore(run).cells()} == before
    assert {n: len(v) for n, v in spy.ids.items()} == calls


def test_a_gmpatl_cell_killed_in_its_last_stage_resumes_that_stage_only(grid, tmp_path, monkeypatch):
    run = tmp_path / "run"
    killed = Spy(monkeypatch, interrupt_finetune=True)
    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, [], run, report=False)
    assert ResultsStore(run).status("run", KEY) == "running" and "multitask" in killed.ids
    done = {c["cell_key"]: c["finished_at"] for c in ResultsStore(run).cells()}
    assert set(done) == {"FT+Random/r0.6/f1/s0"}          # the AL cell ran first and is kept
    monkeypatch.undo()
    resumed = Spy(monkeypatch)
    out = run_grid(grid, [], run, report=False)
    assert out["skipped"] == 1 and out["ran"] == 1 and not out["failed"]
    # stages 1-3 were reused from disk; only stage 4 and the test ran again
    assert set(resumed.ids) == {"finetune", "finetune_val", "predict"}
    rows = {c["cell_key"]: c for c in ResultsStore(run).cells()}
    assert rows["FT+Random/r0.6/f1/s0"]["finished_at"] == done["FT+Random/r0.6/f1/s0"]
    assert rows[KEY]["status"] == "done" and rows[KEY]["seconds"]["multitask"] > 0


def test_gmpatl_needs_a_neural_encoder_and_known_keys(tmp_path):
    grid = write_grid(tmp_path, methods=["FT+Random", "GMP-ATL"], label_ratios=[0.6], folds=[1])
    with pytest.raises(ConfigError, match="neural encoder"):        # the cells' encoder is logmel
        run_grid(grid, [], tmp_path / "a")
    with pytest.raises(ConfigError, match="nope"):
        run_grid(grid, ["gmpatl.backbone=whisper-tiny.en", "gmpatl.overrides=[nope=1]"], tmp_path / "b")


def test_pool_share_is_seeded_sized_and_in_pool_order():
    pool = [f"c{i}" for i in range(50)]
    a, b = pool_share(pool, 0.2, 0), pool_share(pool, 0.2, 1)
    assert len(a) == len(b) == 10 and a == pool_share(pool, 0.2, 0) and a != b
    assert a == sorted(a, key=pool.index) and pool_share(pool, 1.0, 3) == pool and len(pool_share(pool, 0.001, 0)) == 1


def test_run_gmpatl_refuses_a_training_subset_with_validation_or_test_clips(tmp_path):
    from after.data.manifest import read_manifest
    from after.experiments.gmpatl import _fold_rows
    from after.training.gmpatl.config import GMPATLConfig

    write_grid(tmp_path)
    manifest = read_manifest(tmp_path / "corpus" / "manifest.csv")
    folds = read_folds(tmp_path / "corpus" / "folds.csv")
    fold = folds[0]
    cfg = GMPATLConfig(fold=fold.index)
    train, val, test = _fold_rows(cfg, manifest, folds, list(fold.train[:3]))
    assert [manifest[int(i)].id for i in train] == list(fold.train[:3]) and len(test) == len(fold.test)
    for leak in (fold.val[0], fold.test[0]):
        with pytest.raises(ConfigError, match="outside fold"):
            _fold_rows(cfg, manifest, folds, [fold.train[0], leak])
    with pytest.raises(ConfigError, match="empty"):
        _fold_rows(cfg, manifest, folds, [])


def test_changed_gmpatl_settings_are_refused_once_its_cell_finished(grid, tmp_path):
    from after.experiments.rundir import RunDirectoryError
    run = tmp_path / "run"
    assert not run_grid(grid, ["methods=[GMP-ATL]"], run, report=False)["failed"]
    cfg = yaml.safe_load(grid.read_text())
    cfg["gmpatl"]["overrides"] = [o.replace("finetune.max_epochs=2", "finetune.max_epochs=3") for o in TINY]
    grid.write_text(yaml.safe_dump(cfg))
    with pytest.raises(RunDirectoryError, match=r"gmpatl\.finetune\.max_epochs \(2 -> 3\)"):
        run_grid(grid, ["methods=[GMP-ATL]"], run, report=False)
