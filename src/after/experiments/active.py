"""``after al``: Algorithm 1 on one fold of a manifest, from a config file, resumable in its run directory.

Run directory::

    config.yaml        the resolved config
    manifest.csv       (corpora prepared on the fly) folds.csv
    pool.json          every label the oracle gave, with its round
    selection_<r>.json the ids chosen in round r, written before the oracle is asked
    learner/round_<r>/ the learner after the newest finished round
    rounds.jsonl       one record per finished round
    summary.json       AULC and final figures; learning_curve.png
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from after.al.coldstart import COLD_STARTS
from after.al.loop import ActiveLearningLoop, LoopConfig, LoopData
from after.al.oracles import FileOracle, LabelsPending, MultiAnnotatorOracle, SimulatedOracle
from after.al.pool import LabelPool
from after.al.records import summarize_rounds
from after.al.strategies import STRATEGIES
from after.config import ConfigError, load_config, resolve_path, save_config
from after.data.annotations import evaluator_votes
from after.data.folds import Fold
from after.data.manifest import Manifest
from after.data.sources import DataConfig, load_dataset, resolved
from after.training.config import HeadConfig, ModelConfig, TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnerConfig:
    """The model trained inside the loop."""

    # frozen encoder + head; end-to-end fine-tuning; or one head per annotator (annotator-aware strategies)
    kind: Literal["embedding", "finetune", "annotator_heads"] = "embedding"
    n_annotators: int = 0               # annotator_heads: vote slots; 0 = the most votes any pool clip has
    backbone: str = "whisper-tiny.en"   # alias, hub id or local folder (see `after train`)
    init_layer: int = 0                 # hidden state clustered by the k-means cold start: 0 = CNN encoder output
    head: HeadConfig = HeadConfig()
    model: ModelConfig = ModelConfig(freeze="feature_encoder")   # finetune only
    train: TrainConfig = TrainConfig()                           # finetune only
    cache_dir: str = ""                 # embedding cache; default $AFTER_CACHE or ~/.cache/after
    device: str = "auto"


@dataclass(frozen=True)
class ALConfig(LoopConfig):
    """An active-learning run: the loop's knobs at the top level, data and learner in sections."""

    fold: int = 1                       # test fold; the pool is that fold's training clips
    max_pool: int = 0                   # > 0: a seeded random subset of the pool, for quick runs
    stratify_by: str = ""               # a manifest column (corpus, speaker, ...): choose within each group
    oracle: Literal["simulated", "file", "annotators"] = "simulated"
    labels_file: str = "to_label.csv"   # file oracle: relative to the run directory
    data: DataConfig = field(default_factory=DataConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)


def loop_config(cfg: ALConfig) -> LoopConfig:
    return LoopConfig(**{f: getattr(cfg, f) for f in LoopConfig.__dataclass_fields__})


def make_oracle(cfg: ALConfig, manifest: Manifest, pool_ids: list[str], run_dir: Path):
    if cfg.oracle == "simulated":
        return SimulatedOracle({i: manifest.by_id(i).emotion for i in pool_ids})
    if cfg.oracle == "file":
        return FileOracle(run_dir / cfg.labels_file, {i: manifest.by_id(i).path for i in pool_ids},
                          allowed_labels=manifest.labels())
    return MultiAnnotatorOracle({i: evaluator_votes(manifest.by_id(i), manifest.labels()) for i in pool_ids})


def _column(utt, name: str) -> str:
    if hasattr(utt, name) and name != "extra":
        return str(getattr(utt, name))
    if name in utt.extra:
        return utt.extra[name]
    raise ConfigError(f"stratify_by: {name!r} is not a manifest column (try corpus, speaker, gender, language)")


def _pool_ids(cfg: ALConfig, train_ids: tuple[str, ...]) -> list[str]:
    ids = list(train_ids)
    if 0 < cfg.max_pool < len(ids):
        rng = np.random.default_rng([cfg.seed, 7919])
        ids = [ids[i] for i in sorted(rng.choice(len(ids), cfg.max_pool, replace=False))]
    return ids


def build_learner(cfg: LearnerConfig, paths: list[str], n_classes: int, seed: int,
                  progress: Callable[[int, int], None] | None = None, n_annotators: int = 1):
    """The learner over ``paths`` and the ``[N, L+1, D]`` frozen embeddings (for the cold start)."""
    from after.backbones.embeddings import extract_embeddings, pick_device
    from after.training.learners import EmbeddingLearner

    feats = extract_embeddings(cfg.backbone, paths, cache_dir=cfg.cache_dir or None, progress=progress,
                               device=cfg.device)
    device = pick_device(cfg.device)
    if cfg.kind == "embedding":
        return EmbeddingLearner(feats, cfg.head, n_classes, seed=seed, device=device), feats
    if cfg.kind == "annotator_heads":
        from after.training.annotator_heads import AnnotatorHeadsLearner
        return AnnotatorHeadsLearner(feats, cfg.head, n_classes, cfg.n_annotators or n_annotators, seed=seed,
                                     device=device), feats
    from after.training.finetune import FineTuneLearner
    return FineTuneLearner(paths, cfg.backbone, n_classes, model_cfg=cfg.model, head_cfg=cfg.head,
                           train_cfg=cfg.train, seed=seed, device=None if cfg.device == "auto" else cfg.device), feats


def loop_data(cfg: ALConfig, manifest: Manifest, pool_ids: list[str], fold: Fold, feats: np.ndarray) -> LoopData:
    """Rows ``[pool | val | test]`` of ``feats`` with their labels (val/test only) and strata."""
    classes = manifest.labels()
    n_pool, n_val = len(pool_ids), len(fold.val)

    def targets(ids) -> np.ndarray:
        return np.array([classes.index(manifest.by_id(i).emotion) for i in ids], dtype=np.int64)

    return LoopData(
        pool_rows=np.arange(n_pool),
        init_features=feats[:n_pool, min(cfg.learner.init_layer, feats.shape[1] - 1)],
        val_rows=np.arange(n_pool, n_pool + n_val), y_val=targets(fold.val),
        test_rows=np.arange(n_pool + n_val, feats.shape[0]), y_test=targets(fold.test),
        classes=classes,
        strata=[_column(manifest.by_id(i), cfg.stratify_by) for i in pool_ids] if cfg.stratify_by else None,
    )


def run_active_learning(config_path: str | Path | None, overrides: list[str] | None, run_dir: str | Path,
                        progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Run or resume the experiment in ``run_dir``; returns ``summary.json``'s content."""
    cfg = load_config(ALConfig, config_path, overrides)
    if cfg.strategy not in STRATEGIES or cfg.init not in COLD_STARTS:   # before any data or model is loaded
        raise ConfigError(f"strategy {cfg.strategy!r} / init {cfg.init!r}: strategy must be one of "
                          f"{sorted(STRATEGIES)}, init one of {sorted(COLD_STARTS)}")
    local = resolve_path(cfg.learner.backbone, config_path)   # a folder named relative to the config file
    cfg = replace(cfg, data=resolved(cfg.data, config_path),
                  learner=replace(cfg.learner, backbone=str(local.resolve())) if local.exists() else cfg.learner)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    saved = run / "config.yaml"
    if saved.is_file() and (run / "rounds.jsonl").is_file():
        previous = load_config(ALConfig, saved)
        if previous != cfg:
            raise ConfigError(f"{run} holds a run with another config ({saved}); resume it with the same config "
                              "or choose a new run directory")
    save_config(cfg, saved)
    manifest, folds = load_dataset(cfg.data, config_path, run)
    by_index = {f.index: f for f in folds}
    if cfg.fold not in by_index:
        raise ConfigError(f"fold {cfg.fold} does not exist; the folds are {sorted(by_index)}")
    fold = by_index[cfg.fold]
    classes = manifest.labels()
    pool_ids = _pool_ids(cfg, fold.train)
    all_ids = pool_ids + list(fold.val) + list(fold.test)
    paths = [manifest.by_id(i).path for i in all_ids]
    # annotator heads: as many as the most evaluators any pool clip has (known before any label is read)
    n_annotators = max(len(evaluator_votes(manifest.by_id(i), classes)) for i in pool_ids) \
        if cfg.learner.kind == "annotator_heads" else 1
    learner, feats = build_learner(cfg.learner, paths, len(classes), cfg.seed,
                                   progress=(lambda d, n: progress("embeddings", d, n)) if progress else None,
                                   n_annotators=n_annotators)
    data = loop_data(cfg, manifest, pool_ids, fold, feats)
    pool = LabelPool.open(run / "pool.json", pool_ids, make_oracle(cfg, manifest, pool_ids, run))
    loop = ActiveLearningLoop(learner, pool, data, loop_config(cfg), run)
    try:
        records = loop.run(progress=(lambda d, n: progress("rounds", d, n)) if progress else None)
    except LabelsPending:
        from after.experiments.final_model import save_pending_al_bundle
        save_pending_al_bundle(cfg, learner, classes, run)   # RUN/model/: the latest finished round's learner
        raise
    summary = summarize_rounds(records)
    summary.update({"strategy": cfg.strategy, "init": cfg.init, "seed": cfg.seed, "fold": cfg.fold,
                    "pool_size": len(pool_ids), "classes": classes, "backbone": cfg.learner.backbone})
    (run / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    from after.experiments.final_model import save_al_bundle
    save_al_bundle(cfg, learner, classes, run, summary)     # the learner after the latest round: RUN/model/
    from after.reports.learning_curve import plot_learning_curves
    plot_learning_curves({f"{cfg.init}+{cfg.strategy}": records}, run / "learning_curve.png")
    return summary
