"""A cross-validated experiment: manifest + folds -> per fold and seed, train, test, score, write it all.

The frozen fast path (hand-crafted features, or a frozen encoder with mean pooling) extracts cached
embeddings once and trains only the head per fold; anything else fine-tunes end to end per fold.
Read top to bottom: :func:`run_experiment`.

Killed half way, the same command resumes: each finished (fold, seed) is written to
``folds/fold<k>_seed<s>.json`` (metrics and test probabilities) and is reused, never trained twice. The run
directory is locked for the run (:class:`~after.experiments.rundir.RunDirectory`) and, once it holds fold
records, refuses another config or a manifest / folds file whose content changed.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from after.config import ConfigError, config_to_dict, require, resolve_path
from after.data.manifest import Manifest
from after.data.sources import DataConfig, input_files, load_dataset, resolved
from after.errors import StateFileError
from after.evaluation.metrics import (confusion_matrix, macro_f1, summarize, unweighted_accuracy,
                                      weighted_accuracy)
from after.experiments.rundir import RunDirectory, backbone_inputs
from after.reports.run_files import plot_confusion, write_json, write_predictions
from after.training.config import HeadConfig, ModelConfig, TrainConfig
from after.training.normalization import norm_groups

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]   # (stage, done, total)


@dataclass(frozen=True)
class ExperimentConfig:
    """`after train CONFIG.yaml`: what to train, on which data, evaluated how."""

    data: DataConfig = field(default_factory=DataConfig)   # manifest + folds, or corpora split on the fly
    model: ModelConfig = field(default_factory=ModelConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: tuple[int, ...] = (0,)
    max_folds: int = 0                       # 0: every fold; n: the first n (quick runs)
    cache_dir: str = ""                      # embedding cache; empty: $AFTER_CACHE or ~/.cache/after
    device: str = "auto"                     # auto: CUDA when available
    save_checkpoints: bool = True            # fine-tuning: keep each fold's model bundle (frozen: always kept)
    final_model: bool = True                 # fit the recipe on all labelled rows: the bundle in RUN/model/
    refit: bool = False                      # frozen path: retrain on train + val for the early-stopped epoch count

    def __post_init__(self) -> None:
        require(len(self.seeds) >= 1 and all(s >= 0 for s in self.seeds), "seeds", list(self.seeds),
                "must list at least one seed, each >= 0")
        require(self.max_folds >= 0, "max_folds", self.max_folds, "must be >= 0 (0: every fold)")


def uses_frozen_path(model: ModelConfig) -> bool:
    from after.backbones.registry import is_feature_backbone
    return is_feature_backbone(model.backbone) or (model.freeze == "encoder" and model.pooling == "mean")


def resolve_paths(cfg: ExperimentConfig, config_path: str | Path | None) -> ExperimentConfig:
    """Every relative path in ``cfg`` made absolute against the config file's folder (what gets saved)."""
    backbone = cfg.model.backbone
    local = resolve_path(backbone, config_path)
    if local.exists():  # else a hub id, an alias or egemaps/logmel
        backbone = str(local.resolve())
    cache = str(resolve_path(cfg.cache_dir, config_path).resolve()) if cfg.cache_dir else ""
    return dataclasses.replace(cfg, data=resolved(cfg.data, config_path), cache_dir=cache,
                               model=dataclasses.replace(cfg.model, backbone=backbone))


def _score(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> dict:
    pred = proba.argmax(1)
    return {"ua": unweighted_accuracy(y_true, pred), "wa": weighted_accuracy(y_true, pred),
            "f1": macro_f1(y_true, pred), "confusion": confusion_matrix(y_true, pred, n_classes)}


def _make_learner(cfg: ExperimentConfig, manifest: Manifest, features, n_classes: int, seed: int, train_idx):
    from after.training.finetune import FineTuneLearner
    from after.training.learners import EmbeddingLearner
    if features is not None:
        return EmbeddingLearner(features, cfg.head, n_classes, seed, norm_idx=train_idx,
                                norm_groups=norm_groups(manifest, cfg.head.normalize))
    if cfg.head.normalize != "global":
        raise ConfigError(f"head.normalize: {cfg.head.normalize} standardises frozen embeddings; this model "
                          "fine-tunes the encoder (freeze: encoder with pooling: mean uses embeddings). "
                          "Use head.normalize: global")
    device = None if cfg.device == "auto" else cfg.device
    return FineTuneLearner(list(manifest), cfg.model.backbone, n_classes, cfg.model, cfg.head,
                           cfg.train, seed=seed, device=device, durations_s=[u.duration_s for u in manifest])


def _refit(cfg: ExperimentConfig, manifest: Manifest, features, n_classes: int, seed: int, tr, va, y, fit: dict):
    """A fresh head trained on train + val for the epoch count early stopping chose (no peeking at test)."""
    epochs = max(1, int(fit["best_epoch"]))
    head = dataclasses.replace(cfg.head, max_epochs=epochs, patience=epochs + 1)
    both = np.concatenate([tr, va])
    learner = _make_learner(dataclasses.replace(cfg, head=head), manifest, features, n_classes, seed, both)
    refit = learner.fit(both, y[both], both, y[both])
    return learner, {**refit, "best_epoch": fit["best_epoch"], "best_val_loss": fit["best_val_loss"],
                     "refit_epochs": refit["epochs"]}


_FOLD_DETAIL = ("history", "confusion", "labels", "test_ids", "proba")


def _fold_job(cfg: ExperimentConfig, manifest: Manifest, features, y: np.ndarray, labels: list[str], fold, seed: int,
              out: Path) -> dict:
    """Train on one fold with one seed and test it: the record written to ``folds/fold<k>_seed<s>.json``."""
    tr, va, te = (np.asarray(manifest.index_of(fold.ids(s)), dtype=np.int64) for s in ("train", "val", "test"))
    learner = _make_learner(cfg, manifest, features, len(labels), seed, tr)
    fit = learner.fit(tr, y[tr], va, y[va])
    if cfg.refit and features is not None:
        learner, fit = _refit(cfg, manifest, features, len(labels), seed, tr, va, y, fit)
    proba = learner.predict_proba(te)
    score = _score(y[te], proba, len(labels))
    if features is not None or cfg.save_checkpoints:   # the fold's model bundle (fine-tuned: a whole encoder)
        from after.experiments.final_model import save_run_bundle
        save_run_bundle(cfg, learner, labels, out / "bundles" / f"fold{fold.index}_seed{seed}", out,
                        {k: score[k] for k in ("ua", "wa", "f1")})
    log.info("fold %d seed %d: UA %.3f WA %.3f F1 %.3f (%d epochs)", fold.index, seed, score["ua"], score["wa"],
             score["f1"], fit["epochs"])
    return {"fold": fold.index, "seed": seed, "ua": score["ua"], "wa": score["wa"], "f1": score["f1"],
            "n_train": len(tr), "n_val": len(va), "n_test": len(te),
            **{k: v for k, v in fit.items() if k != "history"},
            "history": fit.get("history", []), "confusion": score["confusion"], "labels": labels,
            "test_ids": [manifest[i].id for i in te], "proba": proba}


def _read_record(path: Path, fold: int, seed: int) -> dict:
    """A finished (fold, seed) record, or StateFileError naming the file and what to do."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        ok = isinstance(record, dict) and record.get("fold") == fold and record.get("seed") == seed \
            and all(k in record for k in ("confusion", "test_ids", "proba", "ua"))
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise StateFileError(f"{path}: not a finished record of fold {fold} seed {seed} (damaged or edited). "
                             "Delete it and run the same command again: that fold is trained again")
    return record


def run_experiment(cfg: ExperimentConfig, run_dir: str | Path, config_path: str | Path | None = None,
                   progress: Progress | None = None) -> dict:
    """Cross-validate ``cfg`` and write the run directory; returns the contents of ``metrics.json``.

    The directory is locked for the whole run; a second process on it is refused."""
    with RunDirectory(run_dir) as run:
        return _run_locked(cfg, run, config_path, progress)


def _run_locked(cfg: ExperimentConfig, run: RunDirectory, config_path, progress: Progress | None) -> dict:
    out = run.path
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cfg = resolve_paths(cfg, config_path)
    manifest, folds = load_dataset(cfg.data, None, out)
    has_results = any((out / "folds").glob("*.json")) or (out / "metrics.json").is_file()
    run.bind(config_to_dict(cfg), {**input_files(cfg.data, None, out), **backbone_inputs(cfg.model.backbone)},
             has_results=has_results,
             volatile=("cache_dir",), defaults=config_to_dict(ExperimentConfig()))
    folds = folds[: cfg.max_folds] if cfg.max_folds else folds
    labels = manifest.labels()
    y = np.asarray([labels.index(u.emotion) for u in manifest])
    timings["data_s"] = time.perf_counter() - t

    features = None
    if uses_frozen_path(cfg.model):
        from after.backbones.embeddings import extract_embeddings
        t = time.perf_counter()
        features = extract_embeddings(
            cfg.model.backbone, list(manifest), cache_dir=cfg.cache_dir or None,
            batch_seconds=cfg.train.embed_batch_seconds, max_seconds=cfg.train.max_clip_s,
            device=None if cfg.device == "auto" else cfg.device,
            progress=(lambda d, n: progress("embed", d, n)) if progress else None)
        timings["embed_s"] = time.perf_counter() - t

    runs, predictions, total_cm = [], [], np.zeros((len(labels), len(labels)), dtype=np.int64)
    t = time.perf_counter()
    jobs = [(f, s) for f in folds for s in cfg.seeds]
    for n_done, (fold, seed) in enumerate(jobs):
        path = out / "folds" / f"fold{fold.index}_seed{seed}.json"
        if path.is_file():      # finished before the run was stopped: reuse it, never train it twice
            record = _read_record(path, fold.index, seed)
            log.info("fold %d seed %d: finished earlier, reusing %s", fold.index, seed, path)
        else:
            record = _fold_job(cfg, manifest, features, y, labels, fold, seed, out)
            write_json(record, path)
        runs.append({k: v for k, v in record.items() if k not in _FOLD_DETAIL})
        total_cm += np.asarray(record["confusion"], dtype=np.int64)
        predictions += [{"id": i, "fold": fold.index, "seed": seed, "true": labels.index(manifest.by_id(i).emotion),
                         "pred": int(np.argmax(p)), "proba": np.asarray(p)}
                        for i, p in zip(record["test_ids"], record["proba"])]
        if progress:
            progress("folds", n_done + 1, len(jobs))
    timings["train_eval_s"] = time.perf_counter() - t

    metrics = {**summarize(runs), "labels": labels, "n_utterances": len(manifest), "n_folds": len(folds),
               "seeds": list(cfg.seeds), "backbone": cfg.model.backbone,
               "path": "frozen-embeddings" if features is not None else "fine-tune",
               "folds": runs, "confusion": total_cm, "timings": timings}
    if cfg.final_model:
        from after.experiments.final_model import write_final_model
        write_final_model(cfg, manifest, features, y, labels, runs, out, metrics)
    write_predictions(predictions, labels, out / "predictions.csv")
    plot_confusion(total_cm, labels, out / "confusion.png",
                   title=f"{cfg.model.backbone}: UA {metrics['ua_mean']:.3f} ± {metrics['ua_std']:.3f}")
    write_json(metrics, out / "metrics.json")
    return metrics
