"""``after al``: Algorithm 1 on one fold of a manifest, from a config file, resumable in its run directory.

Run directory (locked while a run uses it; see :class:`~after.experiments.rundir.RunDirectory`)::

    config.yaml        the resolved config; fingerprint.json: the config and the inputs' content
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
from after.al.loop import ActiveLearningLoop, LoopConfig, LoopData, make_cold_start, make_strategy
from after.al.oracles import FileOracle, LabelsPending, MultiAnnotatorOracle, SimulatedOracle
from after.al.pool import LabelPool
from after.al.records import RoundLog, summarize_rounds
from after.al.strategies import STRATEGIES
from after.atomic import atomic_write_text
from after.config import ConfigError, config_to_dict, load_config, require, resolve_path
from after.data.annotations import evaluator_votes
from after.data.folds import Fold
from after.data.manifest import Manifest
from after.data.labels import load_label_map
from after.data.sources import DataConfig, _label_map, input_files, load_dataset, resolved
from after.errors import StateFileError
from after.experiments.rundir import RunDirectory
from after.training.config import HeadConfig, ModelConfig, TrainConfig
from after.training.normalization import norm_groups

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnerConfig:
    """The model trained inside the loop."""

    # frozen encoder + head; end-to-end fine-tuning; or one head per annotator (annotator-aware strategies)
    kind: Literal["embedding", "finetune", "annotator_heads"] = "embedding"
    n_annotators: int = 0               # annotator_heads: one head per evaluator; required (never read from data)
    backbone: str = "whisper-tiny.en"   # alias, hub id or local folder (see `after train`)
    # hidden state clustered by the cold start; 0 = the CNN front end (Whisper: before positional embeddings)
    init_layer: int = 0
    head: HeadConfig = HeadConfig()
    model: ModelConfig = ModelConfig(freeze="feature_encoder")   # finetune only
    train: TrainConfig = TrainConfig()                           # finetune only
    cache_dir: str = ""                 # embedding cache; default $AFTER_CACHE or ~/.cache/after
    device: str = "auto"

    def __post_init__(self) -> None:
        require(self.n_annotators >= 0, "n_annotators", self.n_annotators, "must be >= 0 (0: from the data)")
        require(self.init_layer >= 0, "init_layer", self.init_layer, "must be >= 0")


@dataclass(frozen=True)
class ALConfig(LoopConfig):
    """An active-learning run: the loop's knobs at the top level, data and learner in sections."""

    fold: int = 1                       # test fold; the pool is that fold's training clips
    max_pool: int = 0                   # > 0: a seeded random subset of the pool, for quick runs
    stratify_by: str = ""               # a metadata column (corpus, speaker, ...): choose within each group
    metadata_columns: tuple[str, ...] = ()   # further manifest columns you declare as metadata (not labels)
    oracle: Literal["simulated", "file", "annotators"] = "simulated"
    labels_file: str = "to_label.csv"   # file oracle: relative to the run directory
    data: DataConfig = field(default_factory=DataConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.max_pool >= 0, "max_pool", self.max_pool, "must be >= 0 (0: the whole pool)")
        require(bool(self.labels_file.strip()), "labels_file", self.labels_file, "must name a file")


def loop_config(cfg: ALConfig) -> LoopConfig:
    return LoopConfig(**{f: getattr(cfg, f) for f in LoopConfig.__dataclass_fields__})


def make_oracle(cfg: ALConfig, manifest: Manifest, pool_ids: list[str], run_dir: Path, label_map=None):
    """``label_map``: the run's (``data.labels``), through which evaluators' votes pass as the labels did."""
    if cfg.oracle == "simulated":
        return SimulatedOracle({i: manifest.by_id(i).emotion for i in pool_ids})
    if cfg.oracle == "file":
        return FileOracle(labels_path(cfg, run_dir), {i: manifest.by_id(i).path for i in pool_ids},
                          allowed_labels=manifest.labels())
    lmap = label_map if label_map is not None else load_label_map("keep")
    keyed = cfg.learner.kind == "annotator_heads"     # heads are keyed by the evaluator's id
    return MultiAnnotatorOracle({i: evaluator_votes(manifest.by_id(i), manifest.labels(), lmap, keyed=keyed)
                                 for i in pool_ids})


# columns that describe a clip, never its label: the only ones stratification may read
METADATA_COLUMNS = ("corpus", "speaker", "gender", "language", "session")
LABEL_COLUMNS = ("emotion", "original_label", "evaluator_labels")


def check_stratify_by(cfg: ALConfig) -> None:
    """Refuse a ``stratify_by`` that is not metadata: strata of a label column choose per true class."""
    name = cfg.stratify_by
    if not name:
        return
    if name in LABEL_COLUMNS:
        raise ConfigError(f"stratify_by: {name!r} holds labels; choosing within each of its groups would use "
                          f"the labels of clips nobody has labelled yet. Use a metadata column "
                          f"({', '.join(METADATA_COLUMNS)}) or declare one in metadata_columns")
    if name not in METADATA_COLUMNS and name not in cfg.metadata_columns:
        raise ConfigError(f"stratify_by: {name!r} is not a known metadata column ({', '.join(METADATA_COLUMNS)}); "
                          "if it describes clips and not their labels, list it in metadata_columns")


def labels_path(cfg: ALConfig, run_dir: Path) -> Path:
    """``labels_file`` resolved against the run directory; it must stay inside it (the labels belong to the run)."""
    path = (run_dir / cfg.labels_file).resolve()
    if not path.is_relative_to(run_dir.resolve()):
        raise ConfigError(f"labels_file: {cfg.labels_file!r} is outside the run directory {run_dir}; the people's "
                          "labels belong to the run: give a file name inside it, such as to_label.csv")
    return path


def _open_pool(cfg: ALConfig, manifest: Manifest, pool_ids: list[str], run: Path, label_map=None) -> LabelPool:
    """The label pool of ``run``; its state file missing while rounds are recorded is an error, never an
    empty pool, and a file oracle's sheet must still hold the labels already used."""
    finished = RoundLog(run / "rounds.jsonl").records()
    if finished and not (run / "pool.json").is_file():
        raise StateFileError(f"{run / 'pool.json'} is missing, but {run / 'rounds.jsonl'} records {len(finished)} "
                             "finished round(s); pool.json holds every label given so far. Restore it (from a "
                             "backup), or start a new run directory")
    oracle = make_oracle(cfg, manifest, pool_ids, run, label_map)
    pool = LabelPool.open(run / "pool.json", pool_ids, oracle)
    if isinstance(oracle, FileOracle):
        oracle.check_unchanged({i: (label, pool.round_of(i))
                                for i, label in zip(pool.labelled_ids(), pool.labels_for(pool.labelled_ids()))})
    return pool


def _has_results(run: Path) -> bool:
    """Whether ``run`` holds anything a changed config would silently mix with: rounds, selections or labels."""
    rounds = run / "rounds.jsonl"
    return (rounds.is_file() and rounds.stat().st_size > 0) or (run / "pool.json").is_file() \
        or any(run.glob("selection_*.json"))


def _column(utt, name: str) -> str:
    if hasattr(utt, name) and name != "extra":
        return str(getattr(utt, name))
    if name in utt.extra:
        return utt.extra[name]
    raise ConfigError(f"stratify_by: {name!r} is not a manifest column (try corpus, speaker, gender, language)")


def check_learner(cfg: ALConfig) -> None:
    """Annotator heads need votes from the oracle and a head count from the config, never from the data."""
    if cfg.learner.kind != "annotator_heads":
        return
    if cfg.oracle != "annotators":
        raise ConfigError(f"learner.kind: annotator_heads needs oracle: annotators (one vote per evaluator); "
                          f"with oracle: {cfg.oracle} only one label per clip arrives and every head but the "
                          "first would stay untrained. Use learner.kind: embedding")
    if cfg.learner.n_annotators < 1:
        raise ConfigError("learner.n_annotators: set the number of evaluators (one head each) for "
                          "learner.kind: annotator_heads; it is not read from the unqueried clips' votes")


def _pool_ids(cfg: ALConfig, train_ids: tuple[str, ...]) -> list[str]:
    ids = list(train_ids)
    if 0 < cfg.max_pool < len(ids):
        rng = np.random.default_rng([cfg.seed, 7919])
        ids = [ids[i] for i in sorted(rng.choice(len(ids), cfg.max_pool, replace=False))]
    return ids


def build_learner(cfg: LearnerConfig, paths: list[str], n_classes: int, seed: int,
                  progress: Callable[[int, int], None] | None = None, n_pool: int | None = None,
                  norm_groups: list[str] | None = None):
    """The learner over ``paths`` and the ``[N, L+1, D]`` frozen embeddings (for the cold start).

    The features are standardised with statistics of the first ``n_pool`` rows only: the unlabelled pool's
    audio, which the learner is given anyway (no label is used); validation and test rows never shape them.
    """
    from after.backbones.embeddings import extract_embeddings

    feats = extract_embeddings(cfg.backbone, paths, cache_dir=cfg.cache_dir or None, progress=progress,
                               device=cfg.device)
    return learner_on_features(cfg, feats, paths, n_classes, seed, n_pool, norm_groups), feats


def learner_on_features(cfg: LearnerConfig, feats: np.ndarray, paths: list[str], n_classes: int, seed: int,
                        n_pool: int | None = None, norm_groups: list[str] | None = None):
    """The learner of ``cfg`` on precomputed ``feats``; standardisation statistics from rows ``[:n_pool]``,
    or with ``learner.head.normalize`` corpus / speaker from each row's group (``norm_groups``, audio only)."""
    from after.backbones.embeddings import pick_device
    from after.training.learners import EmbeddingLearner

    device = pick_device(cfg.device)
    norm_idx = np.arange(n_pool if n_pool is not None else feats.shape[0])
    if cfg.kind == "embedding":
        return EmbeddingLearner(feats, cfg.head, n_classes, seed=seed, device=device, norm_idx=norm_idx,
                                norm_groups=norm_groups)
    if cfg.kind == "annotator_heads":
        from after.training.annotator_heads import AnnotatorHeadsLearner
        return AnnotatorHeadsLearner(feats, cfg.head, n_classes, cfg.n_annotators, seed=seed, device=device,
                                     norm_idx=norm_idx)
    from after.training.finetune import FineTuneLearner
    return FineTuneLearner(paths, cfg.backbone, n_classes, model_cfg=cfg.model, head_cfg=cfg.head,
                           train_cfg=cfg.train, seed=seed, device=None if cfg.device == "auto" else cfg.device)


def init_features(cfg: LearnerConfig, feats: np.ndarray, pool_paths: list[str],
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``[n_pool, D]`` what the cold start clusters: hidden state ``init_layer``, where 0 on Whisper is the
    convolutional front end before positional embeddings (Whisper's hidden state 0 has them added, and
    its clip average then encodes the clip's length)."""
    if not 0 <= cfg.init_layer < feats.shape[1]:
        raise ConfigError(f"learner.init_layer: {cfg.init_layer} is out of range; {cfg.backbone} gives hidden "
                          f"states 0..{feats.shape[1] - 1}")
    if cfg.init_layer == 0 and feats.shape[1] > 1:
        from after.backbones.embeddings import extract_embeddings, has_frontend
        from after.backbones.registry import load_backbone
        bb = load_backbone(cfg.backbone)
        if has_frontend(bb):
            return extract_embeddings(bb, pool_paths, cache_dir=cfg.cache_dir or None, progress=progress,
                                      device=cfg.device, features="frontend")[:, 0]
    return feats[:len(pool_paths), cfg.init_layer]


def loop_data(cfg: ALConfig, manifest: Manifest, pool_ids: list[str], fold: Fold, feats: np.ndarray,
              cold_features: np.ndarray | None = None) -> LoopData:
    """Rows ``[pool | val | test]`` of ``feats`` with their labels (val/test only) and strata."""
    n_pool, n_val = len(pool_ids), len(fold.val)
    if cold_features is None:
        if not 0 <= cfg.learner.init_layer < feats.shape[1]:
            raise ConfigError(f"learner.init_layer: {cfg.learner.init_layer} is out of range; the features have "
                              f"hidden states 0..{feats.shape[1] - 1}")
        cold_features = feats[:n_pool, cfg.learner.init_layer]
    classes = manifest.labels()

    def targets(ids) -> np.ndarray:
        return np.array([classes.index(manifest.by_id(i).emotion) for i in ids], dtype=np.int64)

    return LoopData(
        pool_rows=np.arange(n_pool),
        init_features=cold_features,
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
    check_stratify_by(cfg)
    check_learner(cfg)
    make_strategy(cfg), make_cold_start(cfg)   # strategy_args / init_args refused before any work
    local = resolve_path(cfg.learner.backbone, config_path)   # a folder named relative to the config file
    cfg = replace(cfg, data=resolved(cfg.data, config_path),
                  learner=replace(cfg.learner, backbone=str(local.resolve())) if local.exists() else cfg.learner)
    with RunDirectory(run_dir) as rundir:       # locked for the whole run: a second process is refused
        return _run_locked(cfg, config_path, rundir, progress)


def _run_locked(cfg: ALConfig, config_path, rundir: RunDirectory, progress) -> dict:
    run = rundir.path
    labels_path(cfg, run)
    manifest, folds = load_dataset(cfg.data, config_path, run)
    rundir.bind(config_to_dict(cfg), input_files(cfg.data, config_path, run), has_results=_has_results(run),
                volatile=("learner.cache_dir",))
    by_index = {f.index: f for f in folds}
    if cfg.fold not in by_index:
        raise ConfigError(f"fold {cfg.fold} does not exist; the folds are {sorted(by_index)}")
    fold = by_index[cfg.fold]
    classes = manifest.labels()
    pool_ids = _pool_ids(cfg, fold.train)
    all_ids = pool_ids + list(fold.val) + list(fold.test)
    paths = [manifest.by_id(i).path for i in all_ids]
    emb_progress = (lambda d, n: progress("embeddings", d, n)) if progress else None
    label_map = _label_map(cfg.data.labels, config_path)
    pool = _open_pool(cfg, manifest, pool_ids, run, label_map)        # before any audio is embedded
    groups = norm_groups([manifest.by_id(i) for i in all_ids], cfg.learner.head.normalize)  # audio only
    learner, feats = build_learner(cfg.learner, paths, len(classes), cfg.seed, progress=emb_progress,
                                   n_pool=len(pool_ids), norm_groups=groups)
    cold = init_features(cfg.learner, feats, paths[:len(pool_ids)], emb_progress)
    data = loop_data(cfg, manifest, pool_ids, fold, feats, cold)
    loop = ActiveLearningLoop(learner, pool, data, loop_config(cfg), run)
    try:
        records = loop.run(progress=(lambda d, n: progress("rounds", d, n)) if progress else None)
    except LabelsPending:
        from after.experiments.final_model import save_pending_al_bundle
        save_pending_al_bundle(cfg, learner, classes, run)   # RUN/model/: the latest finished round's learner
        raise
    summary = summarize_rounds(records)
    summary.update({"strategy": cfg.strategy, "init": cfg.init, "seed": cfg.seed, "fold": cfg.fold,
                    "pool_size": len(pool_ids), "classes": classes, "backbone": cfg.learner.backbone,
                    # validation labels are labels too: both shares, without and with them
                    "n_val_labels": len(fold.val), "n_labels_total": summary["n_labelled"] + len(fold.val),
                    "fraction_with_val": (summary["n_labelled"] + len(fold.val)) / (len(pool_ids) + len(fold.val))})
    atomic_write_text(run / "summary.json", json.dumps(summary, indent=1))
    from after.experiments.final_model import save_al_bundle
    save_al_bundle(cfg, learner, classes, run, summary)     # the learner after the latest round: RUN/model/
    from after.reports.learning_curve import plot_learning_curves
    plot_learning_curves({f"{cfg.init}+{cfg.strategy}": records}, run / "learning_curve.png")
    return summary
