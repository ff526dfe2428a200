"""The model bundles a run leaves behind: one per (fold, seed) and the final model in ``RUN/model/``.

The final model of ``after train`` is the same recipe fitted on *every* labelled row: no rows are held
out for early stopping, so it trains for a fixed number of epochs, the median of the epochs early
stopping chose across the folds (``best_epoch``), with the first seed. Its ``metrics`` are the
cross-validated figures of that recipe (the only honest estimate: the final model has no test set).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from after.config import config_to_dict

log = logging.getLogger(__name__)

MODEL_DIR = "model"


def training_manifest(cfg, run_dir: Path) -> Path:
    """The manifest the run trained on: ``data.manifest``, or the one prepared from corpora in the run."""
    return Path(cfg.data.manifest) if cfg.data.manifest else Path(run_dir) / "manifest.csv"


def save_run_bundle(cfg, learner, labels: list[str], folder: Path, run_dir: Path, metrics: dict) -> Path:
    """``learner`` of an ``after train`` run (config ``cfg``) as a bundle in ``folder``."""
    from after.training.bundle import save_bundle
    return save_bundle(folder, learner, labels, backbone=cfg.model.backbone, head_cfg=cfg.head,
                       model_cfg=cfg.model, config=config_to_dict(cfg), metrics=metrics,
                       manifest=training_manifest(cfg, run_dir), max_clip_s=cfg.train.max_clip_s)


def final_epochs(runs: list[dict]) -> int:
    """The median early-stopped epoch count over the folds and seeds (at least 1)."""
    chosen = [int(r.get("best_epoch") or r.get("epochs") or 1) for r in runs]
    return max(1, int(np.median(chosen))) if chosen else 1


def write_final_model(cfg, manifest, features, y: np.ndarray, labels: list[str], runs: list[dict], run_dir: Path,
                      metrics: dict) -> Path | None:
    """Fit the recipe on all labelled rows for :func:`final_epochs` epochs; write ``run_dir/model``."""
    from after.experiments.train import _make_learner
    out = Path(run_dir) / MODEL_DIR
    if (out / "bundle.json").is_file():
        log.info("final model: %s exists (same config), kept", out)
        return out
    epochs = final_epochs(runs)
    everything = np.arange(len(manifest))
    if features is not None:
        cfg = dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, max_epochs=epochs, patience=epochs + 1))
    else:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, max_epochs=epochs, patience=epochs + 1))
    log.info("final model: %d epochs on all %d labelled clips (seed %d)", epochs, len(everything), cfg.seeds[0])
    learner = _make_learner(cfg, manifest, features, len(labels), cfg.seeds[0], everything)
    learner.fit(everything, y, np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    summary = {k: v for k, v in metrics.items() if k.endswith(("_mean", "_std"))}
    summary.update(estimate="cross-validated figures of this recipe; the final model itself has no test set",
                   epochs=epochs, n_train=len(everything))
    return save_run_bundle(cfg, learner, labels, out, run_dir, summary)


def save_al_bundle(cfg, learner, classes: list[str], run_dir: Path, summary: dict) -> Path | None:
    """``after al``: the learner after the latest finished round as a bundle in ``run_dir/model``.

    Its metrics are that round's figures from ``summary.json``. An annotator-heads learner is saved as the
    consensus of its trained heads (the mean of their probabilities, what each round evaluated).
    """
    from after.training.bundle import save_bundle
    lc = cfg.learner
    manifest = Path(cfg.data.manifest) if cfg.data.manifest else Path(run_dir) / "manifest.csv"
    # the embedding learner's features come from extract_embeddings' default crop (30 s)
    max_clip_s = lc.train.max_clip_s if lc.kind == "finetune" else 30.0
    return save_bundle(Path(run_dir) / MODEL_DIR, learner, classes, backbone=lc.backbone, head_cfg=lc.head,
                       model_cfg=lc.model, config=config_to_dict(cfg), metrics=summary, manifest=manifest,
                       max_clip_s=max_clip_s, annotators=cfg.annotators)


def save_pending_al_bundle(cfg, learner, classes: list[str], run_dir: Path) -> Path | None:
    """``after al`` waiting for labels (exit 3): the learner of the latest finished round, if any, to RUN/model/.

    The loop asks for a round's labels before it trains, so the learner in memory is the latest round's.
    """
    from after.al.records import RoundLog
    done = RoundLog(Path(run_dir) / "rounds.jsonl").records()
    if not done:
        return None
    last = done[-1]
    figures = {k: last[k] for k in ("round", "n_labelled", "fraction", "test_ua", "test_wa", "val_ua") if k in last}
    return save_al_bundle(cfg, learner, classes, run_dir, {**figures, "pending": "labels of the next round"})
