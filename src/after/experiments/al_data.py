"""Which clips an ``after al`` run uses: a fold of a labelled corpus, or a pool of (unlabelled) audio.

Two layouts of the config's ``data:`` section:

- ``manifest`` + ``folds`` (or ``corpora``): the simulator. The pool is a fold's training clips, the
  fold's validation and test clips are labelled.
- ``manifest`` alone: the manifest *is the pool* (rows may have an empty ``emotion``, e.g. from
  ``after prepare audio``). The classes are declared in the config (``classes:``; required when a row is
  unlabelled). ``data.val`` and ``data.test`` are optional labelled manifests. Validation labels can be
  bought from the pool instead (``val_from_pool``: a count or a fraction): those clips, drawn at random
  with the run's seed, are asked for first and leave the pool. Without ``data.test`` the run has no test
  figures, and says so: it never makes a test set out of the clips it chose to label.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from after.config import ConfigError, resolve_path
from after.data.folds import Fold
from after.data.labels import apply_label_map
from after.data.manifest import Manifest, read_manifest, require_labelled
from after.data.sources import _label_map, load_dataset

log = logging.getLogger(__name__)

NO_TEST_REASON = ("data.test is not given (no test set). The labels bought from the pool are for the clips the "
                  "run chose, no unbiased sample to test on; give a labelled manifest as data.test for test figures")


@dataclass
class ALInputs:
    """The run's clips: ``manifest`` holds every row by id (pool, validation, test)."""

    manifest: Manifest
    classes: list[str]
    pool_ids: list[str]                    # candidates of the acquisition
    fold: Fold                             # val: labelled validation rows; test: labelled test rows
    val_pool_ids: list[str] = field(default_factory=list)   # validation labels to buy from the pool first
    no_test_reason: str = ""
    unlabelled: int = 0                    # pool rows without a label

    @property
    def all_ids(self) -> list[str]:
        """Learner rows, in order: the pool, validation (from a manifest or bought), test."""
        return self.pool_ids + self.val_pool_ids + list(self.fold.val) + list(self.fold.test)


def is_pool_layout(data) -> bool:
    """``data.manifest`` without folds or corpora: the manifest is the pool."""
    return bool(data.manifest) and not data.folds and not data.corpora


def subsample(ids: list[str], max_pool: int, seed: int) -> list[str]:
    """A seeded random subset of ``max_pool`` ids (in pool order), or all of them."""
    if 0 < max_pool < len(ids):
        rng = np.random.default_rng([seed, 7919])
        ids = [ids[i] for i in sorted(rng.choice(len(ids), max_pool, replace=False))]
    return ids


def load_al_inputs(cfg, config_path, run: Path) -> ALInputs:
    """The clips of the AL run ``cfg`` (an :class:`~after.experiments.active.ALConfig`)."""
    if not is_pool_layout(cfg.data):
        return _fold_inputs(cfg, config_path, run)
    return _pool_inputs(cfg, config_path)


def _fold_inputs(cfg, config_path, run: Path) -> ALInputs:
    for name in ("val", "test"):
        if getattr(cfg.data, name):
            raise ConfigError(f"data.{name}: only for a pool (data.manifest without data.folds); with folds, "
                              f"the fold's {name} clips are used. Remove data.{name} or data.folds")
    if cfg.val_from_pool:
        raise ConfigError("val_from_pool: only for a pool (data.manifest without data.folds); the folds already "
                          "give validation clips")
    manifest, folds = load_dataset(cfg.data, config_path, run)
    by_index = {f.index: f for f in folds}
    if cfg.fold not in by_index:
        raise ConfigError(f"fold {cfg.fold} does not exist; the folds are {sorted(by_index)}")
    fold = by_index[cfg.fold]
    classes = _classes(cfg, manifest.labels(), "data.manifest")
    return ALInputs(manifest, classes, subsample(list(fold.train), cfg.max_pool, cfg.seed), fold)


def _classes(cfg, found: list[str], where: str) -> list[str]:
    """The declared classes (which must hold every label found), else the labels found."""
    if not cfg.classes:
        return found
    extra = sorted(set(found) - set(cfg.classes))
    if extra:
        raise ConfigError(f"{where} has label(s) {', '.join(extra)} outside classes: [{', '.join(cfg.classes)}]; "
                          "add them to classes, or map them with data.labels")
    return list(cfg.classes)


def _labelled_manifest(cfg, config_path, name: str, classes: list[str]) -> Manifest:
    path = resolve_path(getattr(cfg.data, name), config_path)
    manifest, _ = apply_label_map(read_manifest(path, check_files=True), _label_map(cfg.data.labels, config_path))
    require_labelled(manifest, f"data.{name} (a {'validation' if name == 'val' else 'test'} manifest)")
    outside = sorted(set(manifest.labels()) - set(classes))
    if outside:
        raise ConfigError(f"data.{name} ({path}) has label(s) {', '.join(outside)} that the pool's classes "
                          f"({', '.join(classes)}) lack; declare classes: in the config, or map them with data.labels")
    return manifest


def _pool_inputs(cfg, config_path) -> ALInputs:
    path = resolve_path(cfg.data.manifest, config_path)
    pool, _ = apply_label_map(read_manifest(path, check_files=True), _label_map(cfg.data.labels, config_path))
    n_unlabelled = len(pool.unlabelled())
    if n_unlabelled and not cfg.classes:
        raise ConfigError(f"{path} has {n_unlabelled} unlabelled row(s): declare the classes the annotators choose "
                          "from in the config, e.g. classes: [angry, happy, neutral, sad]")
    classes = _classes(cfg, pool.labels(), f"data.manifest ({path})")
    if len(classes) < 2:
        raise ConfigError(f"classes: {classes} — a classifier needs at least 2; declare them with classes: [...]")
    val = _labelled_manifest(cfg, config_path, "val", classes) if cfg.data.val else Manifest([])
    test = _labelled_manifest(cfg, config_path, "test", classes) if cfg.data.test else Manifest([])
    if cfg.data.val and cfg.val_from_pool:
        raise ConfigError("give validation labels one way: data.val (a labelled manifest) or val_from_pool, not both")
    _refuse_overlap(pool, val, "data.val")
    _refuse_overlap(pool, test, "data.test")
    _refuse_overlap(val, test, "data.test")
    ids = subsample(pool.ids, cfg.max_pool, cfg.seed)
    val_pool = _val_from_pool(cfg, ids)
    chosen = set(val_pool)
    fold = Fold(0, tuple(i for i in ids if i not in chosen), tuple(val.ids), tuple(test.ids))
    everything = Manifest(list(pool) + list(val) + list(test), source=path)
    return ALInputs(everything, classes, list(fold.train), fold, val_pool,
                    "" if len(test) else NO_TEST_REASON, n_unlabelled)


def _val_from_pool(cfg, ids: list[str]) -> list[str]:
    """``val_from_pool`` clips of ``ids`` drawn with the run's seed (before any label is seen)."""
    v = cfg.val_from_pool
    if not v:
        return []
    n = int(v) if v >= 1 else int(round(v * len(ids)))
    if not 1 <= n < len(ids) - 1:
        raise ConfigError(f"val_from_pool: {v} gives {n} validation clip(s) from a pool of {len(ids)}; "
                          "choose a count or fraction that leaves clips to learn from")
    rng = np.random.default_rng([cfg.seed, 60_013])
    return [ids[i] for i in rng.permutation(len(ids))[:n]]


def _clip_keys(m: Manifest) -> dict:
    return {(str(Path(u.path).resolve()), u.start_s, u.end_s): u.id for u in m}


def _refuse_overlap(a: Manifest, b: Manifest, name: str) -> None:
    """Evaluation clips must not be candidates: the same id, or the same audio (file and span), is refused."""
    same_ids = sorted(set(a.ids) & set(b.ids))
    keys_a = _clip_keys(a)
    same_audio = sorted(keys_a[k] for k in set(keys_a) & set(_clip_keys(b)))
    both = same_ids or same_audio
    if both:
        raise ConfigError(f"{name} shares {len(both)} clip(s) with the clips before it ({', '.join(both[:5])}"
                          f"{' ...' if len(both) > 5 else ''}); evaluation clips must never be chosen or trained on: "
                          "remove them from one of the manifests")
