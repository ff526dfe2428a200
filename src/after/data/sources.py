"""Where an experiment's data comes from: a manifest + folds file, or corpora prepared on the fly.

Experiments (``after train``, ``after al``) name their data in one config section, :class:`DataConfig`.
Either ``manifest`` and ``folds`` point at files made by ``after prepare``/``merge``/``split``, or
``corpora`` lists ``name=root`` pairs that are prepared, merged under ``labels`` and split by speaker into
the run directory once; a rerun reads those files back, so folds are never silently recomputed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Mapping

from after.config import ConfigError, require, resolve_path
from after.data.folds import Fold, check_folds, read_folds, write_folds
from after.data.labels import LabelMap, apply_label_map, label_map_from, load_label_map
from after.data.manifest import Manifest, read_manifest, require_labelled, write_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataConfig:
    """The experiment's utterances and folds (paths relative to the config file)."""

    manifest: str = ""               # a manifest CSV ...
    folds: str = ""                  # ... and its folds CSV (`after al`: none = the manifest is the pool)
    val: str = ""                    # `after al` on a pool: a labelled validation manifest (optional)
    test: str = ""                   # `after al` on a pool: a labelled test manifest (optional)
    corpora: tuple[str, ...] = ()    # or "name=root" pairs prepared, merged and split on the fly
    labels: str | dict[str, str | None] = "keep"   # keep, 4class, a YAML map file, or {emotion: class or null}
    split_by: Literal["speaker", "session"] = "speaker"   # what folds keep apart (made on the fly, or checked)
    n_folds: int = 5
    val_fraction: float = 0.1
    split_seed: int = 0

    def __post_init__(self) -> None:
        require(self.n_folds >= 2, "n_folds", self.n_folds, "must be >= 2")
        require(0 <= self.val_fraction < 1, "val_fraction", self.val_fraction, "must be in [0, 1)")
        require(self.split_seed >= 0, "split_seed", self.split_seed, "must be >= 0")


def resolved(cfg: DataConfig, config_path: str | Path | None) -> DataConfig:
    """``cfg`` with every path made absolute against the config file's folder (what a run saves)."""
    def path(v: str) -> str:
        return str(resolve_path(v, config_path).resolve()) if v else v

    corpora = tuple(f"{n}={path(r)}" for n, r in (c.split("=", 1) for c in cfg.corpora if "=" in c))
    labels = cfg.labels
    if isinstance(labels, str) and labels not in ("keep", "4class"):
        labels = path(labels)
    return replace(cfg, manifest=path(cfg.manifest), folds=path(cfg.folds), val=path(cfg.val), test=path(cfg.test),
                   corpora=corpora if len(corpora) == len(cfg.corpora) else cfg.corpora, labels=labels)


def _label_map(labels: str | Mapping[str, str | None], config_path) -> LabelMap:
    if isinstance(labels, Mapping):    # an inline map; an empty target drops the emotion too
        return label_map_from(dict(labels), "inline", "data.labels")
    return load_label_map(labels if labels in ("keep", "4class") else resolve_path(labels, config_path))


def load_dataset(cfg: DataConfig, config_path: str | Path | None, work_dir: str | Path) -> tuple[Manifest, list[Fold]]:
    """The labelled manifest (label map applied) and its folds, restricted to the manifest's ids.

    The folds are checked against the manifest they were made from (:func:`~after.data.folds.check_folds`):
    the given manifest before the label map (a map legitimately drops rows), or the run directory's copy.
    """
    work = Path(work_dir)
    label_map = _label_map(cfg.labels, config_path)
    if cfg.manifest:
        if cfg.corpora:
            raise ConfigError("data: give either manifest + folds or corpora, not both")
        if not cfg.folds:
            raise ConfigError("data.folds is missing: make one with `after split MANIFEST -o folds.csv`")
        manifest = read_manifest(resolve_path(cfg.manifest, config_path), check_files=True)
        folds_path = resolve_path(cfg.folds, config_path)
    elif cfg.corpora:
        manifest = _prepared(cfg, config_path, work)
        folds_path = work / "folds.csv"
    else:
        raise ConfigError("data: give manifest + folds, or corpora as name=root pairs")
    source = manifest
    manifest, dropped = apply_label_map(manifest, label_map)
    require_labelled(manifest, "an experiment's data.manifest")
    if len(manifest.labels()) < 2:
        raise ConfigError(f"data.labels leaves {len(manifest.labels())} class(es) ({manifest.labels()}): "
                          "a classifier needs at least 2")
    if cfg.corpora:       # folds of corpora prepared on the fly are made from the label-mapped manifest
        source = manifest
        if not folds_path.is_file():
            from after.data.splits import split_by_group
            write_folds(split_by_group(manifest, cfg.split_by, cfg.n_folds, cfg.val_fraction, cfg.split_seed),
                        folds_path)
    folds = read_folds(folds_path)
    # ids are checked against the manifest as given; coverage only for the rows the label map keeps, so folds
    # made before the map (after split on the full manifest) and after it (a corpora run's folds.csv) both fit
    check_folds(folds, source, by=cfg.split_by, source=folds_path, required=manifest.ids)
    keep = set(manifest.ids)
    folds = [Fold(f.index, *(tuple(i for i in f.ids(s) if i in keep) for s in ("train", "val", "test")))
             for f in folds]
    return manifest, folds


def input_files(cfg: DataConfig, config_path: str | Path | None, work_dir: str | Path) -> dict[str, Path]:
    """The files an experiment's results depend on, for the run directory's fingerprint: the manifest and the
    folds as given (or the run directory's copies for corpora prepared on the fly), and a label-map file."""
    if cfg.manifest:
        files = {"manifest": resolve_path(cfg.manifest, config_path)}
        for name in ("folds", "val", "test"):
            if getattr(cfg, name):
                files[name] = resolve_path(getattr(cfg, name), config_path)
    else:
        files = {"manifest": Path(work_dir) / "manifest.csv", "folds": Path(work_dir) / "folds.csv"}
    if isinstance(cfg.labels, str) and cfg.labels not in ("keep", "4class"):
        files["labels"] = resolve_path(cfg.labels, config_path)
    return files


def _prepared(cfg: DataConfig, config_path, work: Path) -> Manifest:
    path = work / "manifest.csv"
    if path.is_file():
        return read_manifest(path)
    from after.data.corpora import get_recipe
    from after.data.merge import merge_manifests
    parts = []
    for spec in cfg.corpora:
        if "=" not in spec:
            raise ConfigError(f"data.corpora entry {spec!r}: expected name=root, e.g. ravdess=../data/ravdess")
        name, root = spec.split("=", 1)
        parts.append(get_recipe(name.strip())(resolve_path(root.strip(), config_path)).manifest)
    merged = merge_manifests(parts, load_label_map("keep")).manifest if len(parts) > 1 else parts[0]
    write_manifest(merged, path)
    return read_manifest(path)
