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
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from after.al.coldstart import COLD_STARTS
from after.al.loop import ActiveLearningLoop, LoopConfig, LoopData, make_cold_start, make_strategy, to_targets
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
from after.data.sources import DataConfig, _label_map, input_files, resolved
from after.experiments.al_data import is_pool_layout, load_al_inputs, subsample
from after.errors import StateFileError
from after.experiments.rundir import RunDirectory, backbone_inputs
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
    # auto: file when the pool has unlabelled rows (people label), else simulated (the corpus' labels replayed)
    oracle: Literal["auto", "simulated", "file", "annotators"] = "auto"
    classes: tuple[str, ...] = ()       # the classes annotators choose from; required for an unlabelled pool
    val_from_pool: float = 0.0          # a pool without data.val: validation labels bought first (count or fraction)
    labels_file: str = "to_label.csv"   # file oracle: relative to the run directory
    # file oracle + learner.kind annotator_heads: the team's ids (one head each); each person gets sheet rows of
    # their own, and individual entropy asks one chosen person per pick (Eq. 13)
    annotators: tuple[str, ...] = ()
    data: DataConfig = field(default_factory=DataConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.max_pool >= 0, "max_pool", self.max_pool, "must be >= 0 (0: the whole pool)")
        require(bool(self.labels_file.strip()), "labels_file", self.labels_file, "must name a file")
        require(self.val_from_pool >= 0 and (self.val_from_pool < 1 or float(self.val_from_pool).is_integer()),
                "val_from_pool", self.val_from_pool, "must be a fraction of the pool in [0, 1) or a whole count")
        require(len(set(self.classes)) == len(self.classes) and all(str(c).strip() for c in self.classes),
                "classes", list(self.classes), "must be distinct, non-empty class names")


def loop_config(cfg: ALConfig, n_val_from_pool: int = 0, n_pool: int = 0) -> LoopConfig:
    """The loop's knobs. Validation clips bought from the pool (``n_val_from_pool``; ``n_pool`` clips are
    left after them) are paid from the budget: a count, or a fraction of the pool before they left it. With
    a ``schedule`` (fractions of the remaining pool) they come on top."""
    out = LoopConfig(**{f: getattr(cfg, f) for f in LoopConfig.__dataclass_fields__})
    if not n_val_from_pool or cfg.schedule:
        return out
    total = int(cfg.budget) if cfg.budget > 1 else math.floor(cfg.budget * (n_pool + n_val_from_pool))
    left = total - n_val_from_pool
    if left < cfg.rounds:
        raise ConfigError(f"budget {cfg.budget} buys {total} label(s); val_from_pool takes {n_val_from_pool}, "
                          f"leaving {left} for {cfg.rounds} round(s). Raise the budget or lower val_from_pool")
    return replace(out, budget=float(left))


def resolve_oracle(cfg: ALConfig, manifest: Manifest, pool_ids: list[str]) -> str:
    """``oracle: auto`` -> ``file`` when a pool clip has no label, else ``simulated``; a simulated oracle
    over unlabelled clips is refused (it would have no answer to replay)."""
    unlabelled = [i for i in pool_ids if not manifest.by_id(i).emotion]
    if cfg.oracle == "auto":
        return "file" if unlabelled else "simulated"
    if cfg.oracle == "simulated" and unlabelled:
        raise ConfigError(f"oracle: simulated replays the manifest's labels, but {len(unlabelled)} pool clip(s) "
                          f"have none ({', '.join(unlabelled[:3])}); use oracle: file (people label them)")
    return cfg.oracle


def make_oracle(cfg: ALConfig, manifest: Manifest, pool_ids: list[str], run_dir: Path, label_map=None,
                classes: list[str] | None = None):
    """``label_map``: the run's (``data.labels``), through which evaluators' votes pass as the labels did.
    ``classes``: what people may answer (default: the manifest's labels)."""
    classes = list(classes) if classes is not None else manifest.labels()
    oracle = resolve_oracle(cfg, manifest, pool_ids)
    if oracle == "simulated":
        return SimulatedOracle({i: manifest.by_id(i).emotion for i in pool_ids})
    if oracle == "file":
        return FileOracle(labels_path(cfg, run_dir), {i: manifest.by_id(i) for i in pool_ids},
                          allowed_labels=classes, annotators=cfg.annotators)
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


def _open_pool(cfg: ALConfig, manifest: Manifest, pool_ids: list[str], run: Path, label_map=None,
               oracle=None, name: str = "pool.json") -> LabelPool:
    """The label pool of ``run``; its state file missing while rounds are recorded is an error, never an
    empty pool, and a file oracle's sheet must still hold the labels already used."""
    finished = RoundLog(run / "rounds.jsonl").records()
    if finished and not (run / name).is_file():
        raise StateFileError(f"{run / name} is missing, but {run / 'rounds.jsonl'} records {len(finished)} "
                             f"finished round(s); {name} holds labels given so far. Restore it (from a "
                             "backup), or start a new run directory")
    oracle = oracle if oracle is not None else make_oracle(cfg, manifest, pool_ids, run, label_map)
    pool = LabelPool.open(run / name, pool_ids, oracle)
    if isinstance(oracle, FileOracle):
        oracle.check_unchanged({i: (label, pool.round_of(i))
                                for i, label in zip(pool.labelled_ids(), pool.labels_for(pool.labelled_ids()))})
    return pool


def _has_results(run: Path) -> bool:
    """Whether ``run`` holds anything a changed config would silently mix with: rounds, selections or labels."""
    rounds = run / "rounds.jsonl"
    return (rounds.is_file() and rounds.stat().st_size > 0) or (run / "pool.json").is_file() \
        or (run / "val_pool.json").is_file() \
        or any(run.glob("selection_*.json"))


def _column(utt, name: str) -> str:
    if hasattr(utt, name) and name != "extra":
        return str(getattr(utt, name))
    if name in utt.extra:
        return utt.extra[name]
    raise ConfigError(f"stratify_by: {name!r} is not a manifest column (try corpus, speaker, gender, language)")


def check_learner(cfg: ALConfig) -> ALConfig:
    """Annotator heads need votes from the oracle and a head count from the config, never from the data.

    Returns ``cfg``, with ``learner.n_annotators`` set to the team's size for a file oracle with ``annotators``.
    """
    if cfg.annotators and not (cfg.learner.kind == "annotator_heads" and cfg.oracle == "file"):
        raise ConfigError("annotators: a team of annotators is for oracle: file with learner.kind: annotator_heads "
                          "(one head per person); remove it, or set both")
    if cfg.learner.kind != "annotator_heads":
        return cfg
    if cfg.oracle == "file":
        if not cfg.annotators:
            raise ConfigError("learner.kind: annotator_heads with oracle: file needs annotators: the team's ids "
                              "(e.g. [ana, ben, chen]), one head each; every person gets label-sheet rows of "
                              "their own")
        if cfg.learner.n_annotators not in (0, len(cfg.annotators)):
            raise ConfigError(f"learner.n_annotators: {cfg.learner.n_annotators} heads for {len(cfg.annotators)} "
                              "annotators; leave it out (one head per annotator) or make them equal")
        bad = [a for a in cfg.annotators if not str(a).strip() or ":" in str(a) or str(a) != str(a).strip()]
        if bad or len(set(cfg.annotators)) != len(cfg.annotators):
            raise ConfigError(f"annotators: {list(cfg.annotators)} must be distinct ids without ':' or "
                              "surrounding spaces")
        return replace(cfg, learner=replace(cfg.learner, n_annotators=len(cfg.annotators)))
    if cfg.oracle != "annotators":
        raise ConfigError(f"learner.kind: annotator_heads needs oracle: annotators (one vote per evaluator) or "
                          f"oracle: file with annotators (the team's ids); with oracle: {cfg.oracle} only one "
                          "label per clip arrives and every head but the first would stay untrained. Use "
                          "learner.kind: embedding")
    if cfg.learner.n_annotators < 1:
        raise ConfigError("learner.n_annotators: set the number of evaluators (one head each) for "
                          "learner.kind: annotator_heads; it is not read from the unqueried clips' votes")
    return cfg


def _pool_ids(cfg: ALConfig, train_ids: tuple[str, ...]) -> list[str]:
    return subsample(list(train_ids), cfg.max_pool, cfg.seed)


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
              cold_features: np.ndarray | None = None, classes: list[str] | None = None,
              row_ids: list[str] | None = None, val_labels: dict | None = None, no_test_reason: str = "") -> LoopData:
    """Rows of ``feats`` (laid out as ``row_ids``, default ``[pool | val | test]``) with the labels of the
    validation and test clips and the pool's strata.

    ``val_labels``: labels of validation clips bought from the pool ({id: label or votes}), which the
    manifest does not hold; the others' come from the manifest.
    """
    n_pool = len(pool_ids)
    if cold_features is None:
        if not 0 <= cfg.learner.init_layer < feats.shape[1]:
            raise ConfigError(f"learner.init_layer: {cfg.learner.init_layer} is out of range; the features have "
                              f"hidden states 0..{feats.shape[1] - 1}")
        cold_features = feats[:n_pool, cfg.learner.init_layer]
    classes = list(classes) if classes is not None else manifest.labels()
    row_ids = row_ids if row_ids is not None else list(pool_ids) + list(fold.val) + list(fold.test)
    pos = {i: k for k, i in enumerate(row_ids)}
    bought = dict(val_labels or {})

    def targets(ids) -> np.ndarray:
        if any(i in bought for i in ids):
            labels = [bought[i] if i in bought else manifest.by_id(i).emotion for i in ids]
            return to_targets(labels, classes, soft=False, rng=np.random.default_rng([cfg.seed, 271]))
        return np.array([classes.index(manifest.by_id(i).emotion) for i in ids], dtype=np.int64)

    return LoopData(
        pool_rows=np.asarray([pos[i] for i in pool_ids], dtype=np.int64),
        init_features=cold_features,
        val_rows=np.asarray([pos[i] for i in fold.val], dtype=np.int64), y_val=targets(fold.val),
        test_rows=np.asarray([pos[i] for i in fold.test], dtype=np.int64), y_test=targets(fold.test),
        classes=classes,
        strata=[_column(manifest.by_id(i), cfg.stratify_by) for i in pool_ids] if cfg.stratify_by else None,
        no_test_reason=no_test_reason,
    )


def run_active_learning(config_path: str | Path | None, overrides: list[str] | None, run_dir: str | Path,
                        progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Run or resume the experiment in ``run_dir``; returns ``summary.json``'s content."""
    cfg = load_config(ALConfig, config_path, overrides)
    if cfg.strategy not in STRATEGIES or cfg.init not in COLD_STARTS:   # before any data or model is loaded
        raise ConfigError(f"strategy {cfg.strategy!r} / init {cfg.init!r}: strategy must be one of "
                          f"{sorted(STRATEGIES)}, init one of {sorted(COLD_STARTS)}")
    check_stratify_by(cfg)
    cfg = check_learner(cfg)
    make_strategy(cfg), make_cold_start(cfg)   # strategy_args / init_args refused before any work
    local = resolve_path(cfg.learner.backbone, config_path)   # a folder named relative to the config file
    cfg = replace(cfg, data=resolved(cfg.data, config_path),
                  learner=replace(cfg.learner, backbone=str(local.resolve())) if local.exists() else cfg.learner)
    with RunDirectory(run_dir) as rundir:       # locked for the whole run: a second process is refused
        return _run_locked(cfg, config_path, rundir, progress)


def _run_locked(cfg: ALConfig, config_path, rundir: RunDirectory, progress) -> dict:
    run = rundir.path
    labels_path(cfg, run)
    inputs = load_al_inputs(cfg, config_path, run)
    manifest, classes, pool_ids = inputs.manifest, inputs.classes, inputs.pool_ids
    cfg = replace(cfg, oracle=resolve_oracle(cfg, manifest, pool_ids + inputs.val_pool_ids))
    rundir.bind(config_to_dict(cfg), {**input_files(cfg.data, config_path, run), **backbone_inputs(cfg.learner.backbone)},
                has_results=_has_results(run),
                volatile=("learner.cache_dir",), defaults=config_to_dict(ALConfig()))
    rows = [manifest.by_id(i) for i in inputs.all_ids]      # manifest rows: a segment is read as its span
    emb_progress = (lambda d, n: progress("embeddings", d, n)) if progress else None
    label_map = _label_map(cfg.data.labels, config_path)
    oracle = make_oracle(cfg, manifest, pool_ids + inputs.val_pool_ids, run, label_map, classes)
    pool = _open_pool(cfg, manifest, pool_ids, run, oracle=oracle)        # before any audio is embedded
    val_pool = _open_pool(cfg, manifest, inputs.val_pool_ids, run, oracle=oracle, name="val_pool.json") \
        if inputs.val_pool_ids else None
    groups = norm_groups(rows, cfg.learner.head.normalize)      # audio only: corpus or speaker, never labels
    learner, feats = build_learner(cfg.learner, rows, len(classes), cfg.seed, progress=emb_progress,
                                   n_pool=len(pool_ids), norm_groups=groups)
    cold = init_features(cfg.learner, feats, rows[:len(pool_ids)], emb_progress)
    val_pending = _ask_validation(val_pool)
    bought = _buy_validation(val_pool)
    fold = Fold(inputs.fold.index, tuple(pool_ids), tuple(bought) + tuple(inputs.fold.val), inputs.fold.test)
    data = loop_data(cfg, manifest, pool_ids, fold, feats, cold, classes=classes, row_ids=inputs.all_ids,
                     val_labels=bought, no_test_reason=inputs.no_test_reason)
    loop = ActiveLearningLoop(learner, pool, data, loop_config(cfg, len(inputs.val_pool_ids), len(pool_ids)), run)
    try:
        if val_pending is not None:
            _ask_round_0_too(loop, val_pending)
        records = loop.run(progress=(lambda d, n: progress("rounds", d, n)) if progress else None)
    except LabelsPending:
        from after.experiments.final_model import save_pending_al_bundle
        save_pending_al_bundle(cfg, learner, classes, run)   # RUN/model/: the latest finished round's learner
        raise
    summary = summarize_rounds(records)
    n_val = len(fold.val)
    summary.update({"strategy": cfg.strategy, "init": cfg.init, "seed": cfg.seed,
                    "fold": None if is_pool_layout(cfg.data) else cfg.fold,
                    "pool_size": len(pool_ids), "classes": classes, "backbone": cfg.learner.backbone,
                    "oracle": cfg.oracle, "n_skipped": len(pool.skipped_ids()),
                    # k clips, m annotations: votes bought (and, pair-wise, the pairs asked)
                    "n_annotations": records[-1]["n_annotations"],
                    **({"n_pairs_asked": records[-1]["n_pairs_asked"]} if "n_pairs_asked" in records[-1] else {}),
                    # validation labels are labels too: both shares, without and with them
                    "n_val_labels": n_val, "n_val_from_pool": len(bought),
                    "n_labels_total": summary["n_labelled"] + n_val,
                    "fraction_with_val": (summary["n_labelled"] + n_val) / (len(pool_ids) + n_val)})
    atomic_write_text(run / "summary.json", json.dumps(summary, indent=1))
    from after.experiments.final_model import save_al_bundle
    save_al_bundle(cfg, learner, classes, run, summary)     # the learner after the latest round: RUN/model/
    from after.reports.learning_curve import plot_learning_curves
    plot_learning_curves({f"{cfg.init}+{cfg.strategy}": records}, run / "learning_curve.png")
    return summary


def _buy_validation(val_pool: LabelPool | None) -> dict:
    """Labels of the validation clips bought from the pool so far ({id: label}; skipped clips left out)."""
    if val_pool is None:
        return {}
    ids = val_pool.labelled_ids()
    return dict(zip(ids, val_pool.labels_for(ids)))


def _ask_validation(val_pool: LabelPool | None) -> LabelsPending | None:
    """Ask for the validation clips bought from the pool (the first labels a run asks for); what is pending."""
    if val_pool is None or not val_pool.unlabelled_ids():
        return None
    todo = val_pool.unlabelled_ids()
    val_pool.describe({i: {"round": "val", "rank": str(k + 1)} for k, i in enumerate(todo)})
    try:
        val_pool.label(todo, round=0)
    except LabelsPending as exc:
        return exc
    return None


def _ask_round_0_too(loop: ActiveLearningLoop, val_pending: LabelsPending) -> None:
    """Validation labels await: ask for the cold start's clips in the same sheet (one sitting for the
    annotator), then raise LabelsPending counting both. Nothing trains before validation is labelled."""
    pending = val_pending.n_pending
    if not loop.log.records():
        try:
            loop.request(0)
        except LabelsPending as exc:
            pending += exc.n_pending
    raise LabelsPending(val_pending.path, pending, val_pending.allowed)
