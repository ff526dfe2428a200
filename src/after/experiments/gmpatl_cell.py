"""A grid cell of GMP-ATL: the `after gmpatl` pipeline trained once on a labelled share of the fold's pool.

GMP-ATL (Pan et al. 2024) is trained on the labelled data; it chooses no clips. A cell of it at label ratio
r, fold k and seed s takes the pool an `after al` cell of the same fold and seed would have (the fold's
training clips, ``max_pool`` applied), draws ``round(r * n_pool)`` of them at random with the seed
(:func:`pool_share`), and runs the four GMP-ATL stages on those clips only, in its own ``after gmpatl`` run
directory (every stage resumable). Early stopping uses the fold's validation clips and the figures are
on its test clips, as in every other cell; they are never trained on.

Why random and not the grid's cold start: the cold start clusters embeddings of the cells' encoder, which
GMP-ATL fine-tunes anyway; a seeded random share is the unbiased sample of "the labelled data" the method
is defined on, costs nothing, and equals what FT + Random would label with no acquisition at all.

The grid config's ``gmpatl:`` section (:class:`GmpatlSection`) names an ``after gmpatl`` config and/or
overrides; its ``data``, ``fold`` and ``seed`` are replaced by the cell's, and ``model.backbone`` by the
section's ``backbone`` or else the cells' encoder (``learner.backbone`` of the ``after al`` config).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from after.config import ConfigError, config_to_dict, load_config, resolve_path

Progress = Callable[[str, int, int], None]
GMPATL_STAGES = {"1_multitask": "multitask", "2_pseudo_labels": "pseudo_labels", "3_retrain": "retrain",
                 "4_finetune": "train"}


@dataclass(frozen=True)
class GmpatlSection:
    """A grid config's ``gmpatl:`` section (only read when ``GMP-ATL`` is among the methods)."""

    config: str = ""                    # an `after gmpatl` config, relative to the grid file ("": the defaults)
    overrides: tuple[str, ...] = ()     # --set style key=value pairs on top of it, e.g. finetune.max_epochs=2
    backbone: str = ""                  # the encoder GMP-ATL fine-tunes; "": the cells' learner.backbone


def spec_config(spec: dict):
    """The GMPATLConfig of a section spec (see :func:`section_spec`): its config file + overrides."""
    from after.training.gmpatl.config import GMPATLConfig
    return load_config(GMPATLConfig, spec["config"] or None, list(spec["overrides"]))


def section_spec(section: GmpatlSection, grid_path: str | Path | None, al_backbone: str) -> dict:
    """The plain-dict part of a GMP-ATL cell's spec: the section with its paths resolved, checked once."""
    path = str(resolve_path(section.config, grid_path).resolve()) if section.config else ""
    if path and not Path(path).is_file():
        raise ConfigError(f"gmpatl.config: {path} not found; name an `after gmpatl` config relative to the grid "
                          "file (see configs/gmpatl_whisper_tiny.yaml)")
    spec_config({"config": path, "overrides": section.overrides})     # unknown keys refused before any cell
    backbone = section.backbone or al_backbone
    local = resolve_path(backbone, grid_path if section.backbone else None)
    backbone = str(local.resolve()) if local.exists() else backbone
    if backbone in ("logmel", "egemaps"):
        raise ConfigError(f"GMP-ATL fine-tunes a neural encoder, and its backbone would be {backbone!r}; set "
                          "gmpatl.backbone (or the cells' learner.backbone) to a Whisper or wav2vec2-family encoder")
    return {"config": path, "overrides": list(section.overrides), "backbone": backbone}


def pool_share(pool_ids: list[str], ratio: float, seed: int) -> list[str]:
    """``round(ratio * len(pool_ids))`` ids (at least one), drawn at random with ``seed``, in pool order."""
    n = min(len(pool_ids), max(1, int(round(ratio * len(pool_ids)))))
    rng = np.random.default_rng([seed, 104_729])
    return [pool_ids[i] for i in sorted(rng.choice(len(pool_ids), n, replace=False))]


def _configs(spec: dict):
    """The cell's ``after al`` config (data, pool) and its resolved GMP-ATL config."""
    from after.data.sources import resolved
    from after.experiments.active import ALConfig
    al = load_config(ALConfig, spec["al_config"], spec["overrides"])
    al = dataclasses.replace(al, data=resolved(al.data, spec["al_config"]))
    sec = spec["gmpatl"]
    cfg = spec_config(sec)
    cfg = dataclasses.replace(cfg, data=al.data, fold=al.fold, seed=al.seed,
                              model=dataclasses.replace(cfg.model, backbone=sec["backbone"]))
    return al, cfg


def _seconds(metrics: dict, wall: float) -> dict[str, float]:
    """Seconds per stage; ``setup`` is what the stages do not account for (data, model loading)."""
    stages = metrics["stages"]
    out = {GMPATL_STAGES[name]: float(s["seconds"]) for name, s in stages.items()}
    out["evaluate"] = float(metrics["timings"]["test_and_save_s"])
    ran_here = sum(float(s["seconds"]) for s in stages.values() if not s.get("reused"))
    out["setup"] = max(0.0, wall - ran_here - out["evaluate"])
    return out


def gmpatl_cell(spec: dict, cell: Path, progress: Progress | None = None) -> dict:
    """Run (or resume) a GMP-ATL cell in ``cell``; returns the :class:`CellResult` fields it fills."""
    from after.backbones.embeddings import pick_device
    from after.experiments.al_data import is_pool_layout, load_al_inputs
    from after.experiments.gmpatl import run_gmpatl

    t0 = time.perf_counter()
    al, cfg = _configs(spec)
    if is_pool_layout(al.data):
        raise ConfigError("GMP-ATL cells need folds (data.manifest + data.folds, or data.corpora): the fold's "
                          "validation clips early-stop it and its test clips score it")
    cell.mkdir(parents=True, exist_ok=True)
    pool = load_al_inputs(al, None, cell).pool_ids
    train_ids = pool_share(pool, spec["label_ratio"], spec["seed"])
    metrics = run_gmpatl(cfg, cell, progress=progress, train_ids=train_ids)
    if sorted(metrics["train_ids"]) != sorted(train_ids):     # a bug, never a user error
        raise RuntimeError(f"{cell}: GMP-ATL trained on other clips than the cell's share")
    bundle = cell / "model"
    device = str(pick_device(None if cfg.device == "auto" else cfg.device))
    return {"config": {**config_to_dict(cfg), "pool": {"max_pool": al.max_pool, "n_pool": len(pool)}},
            "device": device, "cell_dir": str(cell),
            "bundle_path": str(bundle) if (bundle / "bundle.json").is_file() else None,
            "seconds": _seconds(metrics, time.perf_counter() - t0),
            "test_ua": float(metrics["ua"]), "test_wa": float(metrics["wa"]), "test_f1": float(metrics["f1"]),
            "aulc": None, "n_labelled": len(train_ids), "n_val_labels": int(metrics["n_val"]),
            "pool_size": len(pool), "classes": list(metrics["labels"]),
            "confusion": np.asarray(metrics["confusion"]).tolist(), "rounds": [],
            "artifacts": {"train_ids": {"value": list(train_ids)}}}
