"""A cross-validated experiment: manifest + folds -> per fold and seed, train, test, score, write it all.

The frozen fast path (hand-crafted features, or a frozen encoder with mean pooling) extracts cached
embeddings once and trains only the head per fold; anything else fine-tunes end to end per fold.
Read top to bottom: :func:`run_experiment`.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from after.config import config_to_dict, resolve_path, save_config
from after.data.folds import Fold, read_folds, write_folds
from after.data.manifest import Manifest, read_manifest, write_manifest
from after.evaluation.metrics import (confusion_matrix, macro_f1, summarize, unweighted_accuracy,
                                      weighted_accuracy)
from after.reports.run_files import plot_confusion, write_json, write_predictions
from after.training.config import HeadConfig, ModelConfig, TrainConfig

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]   # (stage, done, total)


@dataclass(frozen=True)
class CorpusConfig:
    """Prepare a corpus and split it on the fly (instead of ``manifest`` + ``folds`` files)."""

    name: str = ""               # a recipe of `after data prepare`, e.g. ravdess
    root: str = ""               # its folder (relative paths: to the config file)
    by: str = "speaker"          # group the folds are independent in
    n_folds: int = 5
    val_fraction: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class ExperimentConfig:
    """`after train CONFIG.yaml`: what to train, on which data, evaluated how."""

    manifest: str = ""                       # manifest CSV (relative paths: to the config file)
    folds: str = ""                          # fold CSV id,fold,split
    corpus: CorpusConfig | None = None       # alternative to manifest + folds
    labels: dict[str, str] | None = None     # emotion -> class; emotions not listed are dropped
    model: ModelConfig = field(default_factory=ModelConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: tuple[int, ...] = (0,)
    max_folds: int = 0                       # 0: every fold; n: the first n (quick runs)
    cache_dir: str = ""                      # embedding cache; empty: $AFTER_CACHE or ~/.cache/after
    device: str = "auto"                     # auto: CUDA when available
    save_checkpoints: bool = True            # fine-tuning: keep each fold's best model on disk


def uses_frozen_path(model: ModelConfig) -> bool:
    from after.backbones.registry import is_feature_backbone
    return is_feature_backbone(model.backbone) or (model.freeze == "encoder" and model.pooling == "mean")


def resolve_paths(cfg: ExperimentConfig, config_path: str | Path | None) -> ExperimentConfig:
    """Every relative path in ``cfg`` made absolute against the config file's folder (what gets saved)."""
    def path(v: str) -> str:
        return str(resolve_path(v, config_path).resolve()) if v else v

    backbone = cfg.model.backbone
    local = resolve_path(backbone, config_path)
    if local.exists():  # else a hub id, an alias or egemaps/logmel
        backbone = str(local.resolve())
    corpus = dataclasses.replace(cfg.corpus, root=path(cfg.corpus.root)) if cfg.corpus is not None else None
    return dataclasses.replace(cfg, manifest=path(cfg.manifest), folds=path(cfg.folds), corpus=corpus,
                               cache_dir=path(cfg.cache_dir), model=dataclasses.replace(cfg.model, backbone=backbone))


def load_data(cfg: ExperimentConfig, config_path: str | Path | None, run_dir: Path) -> tuple[Manifest, list[Fold]]:
    """The manifest and folds: read from files, or prepared and split into ``run_dir``."""
    if cfg.manifest:
        manifest = read_manifest(resolve_path(cfg.manifest, config_path), check_files=True)
        if not cfg.folds:
            raise ValueError("`manifest:` needs `folds:` too (make them with `after data split`)")
        folds = read_folds(resolve_path(cfg.folds, config_path), known_ids=manifest.ids)
    elif cfg.corpus is not None and cfg.corpus.name:
        from after.data.corpora import get_recipe
        from after.data.splits import split_by_group
        c = cfg.corpus
        manifest = get_recipe(c.name)(resolve_path(c.root, config_path), on_error="fail").manifest
        folds = split_by_group(manifest, c.by, c.n_folds, c.val_fraction, c.seed)
        write_manifest(manifest, run_dir / "manifest.csv")
        write_folds(folds, run_dir / "folds.csv")
    else:
        raise ValueError("the config needs `manifest:` + `folds:` files, or `corpus: {name: ..., root: ...}`")
    if cfg.labels:
        keep = {e for e, c in cfg.labels.items() if c}
        n_before = len(manifest)
        manifest = Manifest([dataclasses.replace(u, emotion=cfg.labels[u.emotion])
                             for u in manifest if u.emotion in keep], manifest.source)
        log.info("labels map: kept %d of %d utterances", len(manifest), n_before)
        ids = set(manifest.ids)
        folds = [Fold(f.index, *(tuple(i for i in f.ids(s) if i in ids) for s in ("train", "val", "test")))
                 for f in folds]
    if len(manifest.labels()) < 2:
        raise ValueError(f"only {len(manifest.labels())} class(es) left ({manifest.labels()}): a classifier needs "
                         "at least 2 (check the `labels:` map)")
    if cfg.max_folds:
        folds = folds[: cfg.max_folds]
    return manifest, folds


def _score(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> dict:
    pred = proba.argmax(1)
    return {"ua": unweighted_accuracy(y_true, pred), "wa": weighted_accuracy(y_true, pred),
            "f1": macro_f1(y_true, pred), "confusion": confusion_matrix(y_true, pred, n_classes)}


def _make_learner(cfg: ExperimentConfig, manifest: Manifest, features, n_classes: int, seed: int, train_idx):
    from after.training.finetune import FineTuneLearner
    from after.training.learners import EmbeddingLearner
    if features is not None:
        return EmbeddingLearner(features, cfg.head, n_classes, seed, norm_idx=train_idx)
    device = None if cfg.device == "auto" else cfg.device
    return FineTuneLearner([u.path for u in manifest], cfg.model.backbone, n_classes, cfg.model, cfg.head,
                           cfg.train, seed=seed, device=device, durations_s=[u.duration_s for u in manifest])


def run_experiment(cfg: ExperimentConfig, run_dir: str | Path, config_path: str | Path | None = None,
                   progress: Progress | None = None) -> dict:
    """Cross-validate ``cfg`` and write the run directory; returns the contents of ``metrics.json``."""
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cfg = resolve_paths(cfg, config_path)
    save_config(cfg, out / "config.yaml")
    manifest, folds = load_data(cfg, None, out)
    labels = manifest.labels()
    y = np.asarray([labels.index(u.emotion) for u in manifest])
    timings["data_s"] = time.perf_counter() - t

    features = None
    if uses_frozen_path(cfg.model):
        from after.backbones.embeddings import extract_embeddings
        t = time.perf_counter()
        features = extract_embeddings(
            cfg.model.backbone, [u.path for u in manifest], cache_dir=cfg.cache_dir or None,
            batch_seconds=cfg.train.embed_batch_seconds, max_seconds=cfg.train.max_clip_s,
            device=None if cfg.device == "auto" else cfg.device,
            progress=(lambda d, n: progress("embed", d, n)) if progress else None)
        timings["embed_s"] = time.perf_counter() - t

    runs, predictions, total_cm = [], [], np.zeros((len(labels), len(labels)), dtype=np.int64)
    t = time.perf_counter()
    jobs = [(f, s) for f in folds for s in cfg.seeds]
    for n_done, (fold, seed) in enumerate(jobs):
        tr, va, te = (np.asarray(manifest.index_of(fold.ids(s)), dtype=np.int64) for s in ("train", "val", "test"))
        learner = _make_learner(cfg, manifest, features, len(labels), seed, tr)
        fit = learner.fit(tr, y[tr], va, y[va])
        proba = learner.predict_proba(te)
        score = _score(y[te], proba, len(labels))
        total_cm += score["confusion"]
        run = {"fold": fold.index, "seed": seed, "ua": score["ua"], "wa": score["wa"], "f1": score["f1"],
               "n_train": len(tr), "n_val": len(va), "n_test": len(te),
               **{k: v for k, v in fit.items() if k != "history"}}
        runs.append(run)
        write_json({**run, "history": fit.get("history", []), "confusion": score["confusion"], "labels": labels},
                   out / "folds" / f"fold{fold.index}_seed{seed}.json")
        predictions += [{"id": manifest[i].id, "fold": fold.index, "seed": seed, "true": int(y[i]),
                         "pred": int(p.argmax()), "proba": p} for i, p in zip(te, proba)]
        if features is None and cfg.save_checkpoints:
            from after.training.model import save_checkpoint
            save_checkpoint(learner.model, out / "checkpoints" / f"fold{fold.index}_seed{seed}",
                            config_to_dict(cfg), labels)
        log.info("fold %d seed %d: UA %.3f WA %.3f F1 %.3f (%d epochs)", fold.index, seed, run["ua"], run["wa"],
                 run["f1"], fit["epochs"])
        if progress:
            progress("folds", n_done + 1, len(jobs))
    timings["train_eval_s"] = time.perf_counter() - t

    metrics = {**summarize(runs), "labels": labels, "n_utterances": len(manifest), "n_folds": len(folds),
               "seeds": list(cfg.seeds), "backbone": cfg.model.backbone,
               "path": "frozen-embeddings" if features is not None else "fine-tune",
               "folds": runs, "confusion": total_cm, "timings": timings}
    write_predictions(predictions, labels, out / "predictions.csv")
    plot_confusion(total_cm, labels, out / "confusion.png",
                   title=f"{cfg.model.backbone}: UA {metrics['ua_mean']:.3f} ± {metrics['ua_std']:.3f}")
    write_json(metrics, out / "metrics.json")
    return metrics
