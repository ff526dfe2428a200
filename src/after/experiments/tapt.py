"""``after tapt``: continued self-supervised training of an encoder on unlabelled audio (AFTER, Algorithm 1,
line 1; paper section 3.2). Read top to bottom: :func:`run_tapt`.

Run directory::

    config.yaml, fingerprint.json   the resolved config and what the run depends on (RunDirectory)
    manifest.csv, folds.csv         only when the config prepares corpora on the fly
    checkpoint.pt                   model + optimizer + schedule + RNG + step, rewritten atomically
    steps.jsonl                     one JSON object per logged step: step, loss, each term, lr
    backbone/                       the adapted encoder: config.json, model.safetensors (+ the feature
                                    extractor's preprocessor_config.json), tapt.json (config, data hash,
                                    steps, pool); load it as any backbone: `model.backbone: RUN/backbone`

Killed at any point (even ``kill -9``), the same command resumes from the last checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Callable

import torch

from after.atomic import atomic_write_text
from after.config import config_to_dict, load_config, resolve_path
from after.data.sources import load_dataset, resolved
from after.experiments.rundir import RunDirectory, backbone_inputs
from after.tapt.config import TaptConfig
from after.tapt.pool import fold_train_clips, pool_hash, read_audio_list, subsample
from after.tapt.trainer import CHECKPOINT_NAME, Clip, TaptError, TaptTrainer

log = logging.getLogger(__name__)

BACKBONE_DIR = "backbone"
TAPT_JSON = "tapt.json"

Progress = Callable[[int, int, float], None]   # (step, total steps, loss)


def resolve_tapt_paths(cfg: TaptConfig, config_path: str | Path | None) -> TaptConfig:
    """Every relative path made absolute against the config file's folder (what the run saves)."""
    local = resolve_path(cfg.backbone, config_path)
    backbone = str(local.resolve()) if local.exists() else cfg.backbone
    return dataclasses.replace(cfg, backbone=backbone, data=resolved(cfg.data, config_path))


def adaptation_pool(cfg: TaptConfig, run_dir: Path) -> tuple[list[Clip], dict[str, Path]]:
    """The clips to adapt on and the input files they came from (for the run's fingerprint).

    With folds (given, or made from corpora), only fold ``cfg.fold``'s training clips: never its
    validation or test clips. A manifest alone: all its rows.
    """
    d = cfg.data
    if d.corpora:
        if d.manifest:
            raise TaptError("data: give either manifest (+ folds) or corpora, not both")
        load_dataset(d, None, run_dir)     # prepares and splits into the run directory, once
        manifest, folds = run_dir / "manifest.csv", run_dir / "folds.csv"
    elif d.manifest:
        manifest, folds = Path(d.manifest), Path(d.folds) if d.folds else None
    else:
        raise TaptError("data: give a manifest (all its rows are adapted on), a manifest + folds (the fold's "
                        "training clips), or corpora as name=root pairs")
    clips = read_audio_list(manifest)
    inputs = {"manifest": manifest}
    if folds is not None:
        clips = fold_train_clips(clips, folds, cfg.fold)
        inputs["folds"] = folds
    return subsample(clips, cfg.max_clips, cfg.seed), inputs


def run_tapt(config_path: str | Path | None, overrides: list[str] | None, run_dir: str | Path,
             progress: Progress | None = None) -> dict:
    """Run or resume TAPT in ``run_dir``; returns the content of ``backbone/tapt.json``."""
    cfg = resolve_tapt_paths(load_config(TaptConfig, config_path, overrides), config_path)
    with RunDirectory(run_dir) as run:
        done = run.path / BACKBONE_DIR / TAPT_JSON
        run.bind(config_to_dict(cfg), _fingerprint_inputs(cfg, run.path),
                 has_results=(run.path / CHECKPOINT_NAME).is_file() or done.is_file(),
                 defaults=config_to_dict(TaptConfig()))
        if done.is_file():
            log.info("%s is finished; its adapted encoder is %s", run.path, done.parent)
            return json.loads(done.read_text(encoding="utf-8"))
        t0 = time.perf_counter()
        clips, _ = adaptation_pool(cfg, run.path)
        data_hash = pool_hash(clips)
        trainer = TaptTrainer(_build_model(cfg), clips, cfg, run.path, _device(cfg), data_hash)
        summary = trainer.run(progress)
        record = {"config": config_to_dict(cfg), "data_hash": data_hash, "clip_ids": [c.id for c in clips],
                  **summary, "train_s": round(time.perf_counter() - t0, 1), "source": cfg.backbone}
        _write_backbone(trainer.model, cfg, record, run.path / BACKBONE_DIR)
        return record


def _fingerprint_inputs(cfg: TaptConfig, run_dir: Path) -> dict[str, Path]:
    source = backbone_inputs(cfg.backbone)      # the encoder TAPT starts from
    if cfg.data.manifest:
        return {"manifest": Path(cfg.data.manifest), **({"folds": Path(cfg.data.folds)} if cfg.data.folds else {}),
                **source}
    return source   # corpora: the config names them; their manifest and folds are made inside the run directory


def _device(cfg: TaptConfig) -> torch.device:
    from after.backbones.embeddings import pick_device
    return pick_device(cfg.device)


def _build_model(cfg: TaptConfig):
    from after.backbones.registry import is_feature_backbone, load_backbone
    from after.tapt.model import TaptModel
    if is_feature_backbone(cfg.backbone):
        raise TaptError(f"backbone {cfg.backbone!r} is a fixed feature set; TAPT adapts a neural encoder "
                        "(whisper-*, wav2vec2, HuBERT, WavLM, data2vec-audio)")
    backbone = load_backbone(cfg.backbone)
    torch.manual_seed(cfg.seed)     # the heads' initial weights (and the first dropout masks)
    return TaptModel(backbone, cfg)


def _write_backbone(model, cfg: TaptConfig, record: dict, out: Path) -> None:
    """Save the adapted encoder to a temporary folder, check it loads as a backbone, then move it in place."""
    from after.backbones.registry import load_backbone
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_backbone(str(tmp))
    source_pre = Path(cfg.backbone) / "preprocessor_config.json"
    if source_pre.is_file() and not (tmp / source_pre.name).is_file():
        shutil.copy2(source_pre, tmp / source_pre.name)
    load_backbone(str(tmp))          # raises if the folder does not load through the path users take
    atomic_write_text(tmp / TAPT_JSON, json.dumps(record, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
