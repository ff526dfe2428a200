"""`after gmpatl`: the four GMP-ATL stages on one fold, each resumable, then test metrics and the model.

Read top to bottom: :func:`run_gmpatl`. Every stage leaves ``RUN/stages/<stage>/`` with its output and a
``summary.json`` written last; a rerun finds that summary, loads the stage's output and moves on, so a
finished stage is never recomputed (a run directory refuses another config or changed input files).
The method and which of its details are our choices: :mod:`after.training.gmpatl`.
"""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np

from after.atomic import atomic_write_bytes
from after.config import ConfigError, config_to_dict, resolve_path
from after.data.manifest import Manifest
from after.data.sources import load_dataset, resolved
from after.evaluation.metrics import confusion_matrix, macro_f1, unweighted_accuracy, weighted_accuracy
from after.experiments.rundir import RunDirectory, backbone_inputs
from after.reports.run_files import write_json, write_predictions
from after.training.gmpatl.config import GMPATLConfig

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
STAGES = ("1_multitask", "2_pseudo_labels", "3_retrain", "4_finetune")


def resolve_paths(cfg: GMPATLConfig, config_path: str | Path | None) -> GMPATLConfig:
    """Relative paths in ``cfg`` made absolute against the config file's folder (what the run saves)."""
    local = resolve_path(cfg.model.backbone, config_path)
    model = dataclasses.replace(cfg.model, backbone=str(local.resolve())) if local.exists() else cfg.model
    return dataclasses.replace(cfg, data=resolved(cfg.data, config_path), model=model)


def _gender_ids(manifest: Manifest):
    from after.training.gmpatl.model import GENDER_IDS, IGNORE
    return np.asarray([GENDER_IDS.get(u.gender, IGNORE) for u in manifest], dtype=np.int64)


def _clips(cfg: GMPATLConfig, manifest: Manifest, labels: list[str]):
    from after.data.audio import load_audio
    from after.training.gmpatl.stages import Clips
    paths = [u.path for u in manifest]
    return Clips(read=lambda i, max_s: load_audio(paths[i], max_duration_s=max_s),
                 durations_s=np.asarray([u.duration_s for u in manifest], dtype=np.float64),
                 emotion=np.asarray([labels.index(u.emotion) for u in manifest], dtype=np.int64),
                 gender=_gender_ids(manifest) if cfg.uses_gender else np.full(len(manifest), -100, np.int64))


def _fold_rows(cfg: GMPATLConfig, manifest: Manifest, folds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    chosen = [f for f in folds if f.index == cfg.fold]
    if not chosen:
        raise ConfigError(f"fold {cfg.fold} is not in the folds file (it has {[f.index for f in folds]}); "
                          "set `fold:` to one of them")
    return tuple(np.asarray(manifest.index_of(chosen[0].ids(s)), dtype=np.int64) for s in ("train", "val", "test"))


def _check_gender(cfg: GMPATLConfig, clips, train: np.ndarray) -> None:
    if cfg.uses_gender and not (clips.gender[train] >= 0).any():
        raise ConfigError("gender_weight > 0 but no training clip has a known gender (f/m) in the manifest's "
                          "gender column; fill it in, or set gender_weight: 0 (pseudo-TAPT, no gender task)")


def _save_state(model, path: Path) -> None:
    from safetensors.torch import save
    atomic_write_bytes(path, save(model.state_to_save()))


def _load_state(model, path: Path) -> None:
    from safetensors.torch import load_file
    model.load_saved(load_file(str(path)))


def _stage(out: Path, name: str, model, run: Callable[[], dict]) -> dict:
    """Run a model-training stage, or reuse its saved weights and summary from an earlier run."""
    folder = out / "stages" / name
    summary_path = folder / "summary.json"
    if summary_path.is_file():
        _load_state(model, folder / "state.safetensors")
        log.info("stage %s: finished earlier, reusing %s", name, folder)
        return {**json.loads(summary_path.read_text(encoding="utf-8")), "reused": True}
    t = time.perf_counter()
    summary = {**run(), "seconds": time.perf_counter() - t}
    folder.mkdir(parents=True, exist_ok=True)
    _save_state(model, folder / "state.safetensors")
    write_json(summary, summary_path)        # last: its presence means the stage is complete
    return {**summary, "reused": False}


def _pseudo_label_stage(out: Path, cfg: GMPATLConfig, model, clips, train: np.ndarray) -> tuple[dict, dict]:
    """Stage 2: k-means ids of every training clip's frames (reused from disk when present)."""
    from after.training.gmpatl import pseudolabels
    folder = out / "stages" / STAGES[1]
    summary_path = folder / "summary.json"
    if summary_path.is_file():
        saved = np.load(folder / "frame_ids.npz")
        parts = np.split(saved["ids"], saved["offsets"][1:-1], axis=1)
        log.info("stage %s: finished earlier, reusing %s", STAGES[1], folder)
        return dict(zip(saved["rows"].tolist(), parts)), {**json.loads(summary_path.read_text()), "reused": True}
    t = time.perf_counter()
    pc, max_s = cfg.pseudo_labels, cfg.multitask.max_clip_s
    frames = pseudolabels.training_frames(model, clips.reader(max_s), train, clips.cropped(max_s), pc.layer,
                                          cfg.multitask.embed_batch_seconds)
    books = pseudolabels.fit_codebooks(frames, pc, cfg.seed)
    ids = pseudolabels.frame_ids(frames, books)
    offsets = np.concatenate([[0], np.cumsum([x.shape[1] for x in ids])])
    folder.mkdir(parents=True, exist_ok=True)
    for name, arrays in (("codebooks.npz", {f"k{len(b)}": b for b in books}),
                         ("frame_ids.npz", {"ids": np.concatenate(ids, axis=1).astype(np.int32), "offsets": offsets,
                                            "rows": train})):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(folder / name, buf.getvalue())
    summary = {"n_clips": len(train), "n_frames": int(offsets[-1]), "n_clusters": list(pc.n_clusters),
               "layer": pc.layer, "seconds": time.perf_counter() - t}
    write_json(summary, summary_path)
    return dict(zip(train.tolist(), ids)), {**summary, "reused": False}


def _build_model(cfg: GMPATLConfig, n_classes: int):
    from after.backbones.embeddings import pick_device
    from after.backbones.registry import load_backbone
    from after.backbones.base import Backbone
    from after.training.gmpatl.model import GMPModel
    from after.training.learners import seeded
    bb = load_backbone(cfg.model.backbone)
    if not isinstance(bb, Backbone):
        raise ConfigError(f"model.backbone {cfg.model.backbone!r}: GMP-ATL fine-tunes a neural encoder "
                          "(Whisper or the wav2vec2 family), not hand-crafted features")
    with seeded(cfg.seed):
        model = GMPModel(bb, n_classes, cfg.model, cfg.head, with_gender=cfg.uses_gender)
    return model.to(pick_device(None if cfg.device == "auto" else cfg.device)).eval()


def save_model(model, folder: Path, cfg: GMPATLConfig, labels: list[str], metrics: dict) -> Path:
    """The final emotion model as a model bundle (``after predict`` loads it; an AM-Softmax head is kept as
    its cosine layer). The gender head and the pseudo-label heads are training aids and are not saved."""
    from after.training.bundle import save_bundle
    return save_bundle(folder, _Trained(model.ser), labels, backbone=cfg.model.backbone, head_cfg=cfg.head,
                       model_cfg=cfg.model, config=config_to_dict(cfg), metrics=metrics,
                       manifest=cfg.data.manifest or None, max_clip_s=cfg.finetune.max_clip_s)


@dataclasses.dataclass(frozen=True)
class _Trained:
    """What :func:`after.training.bundle.save_bundle` takes: a learner-like holder of an SERModel."""

    model: object


def _score(clips, rows: np.ndarray, proba: np.ndarray, n_classes: int) -> dict:
    y, pred = clips.emotion[rows], proba.argmax(1)
    return {"ua": unweighted_accuracy(y, pred), "wa": weighted_accuracy(y, pred), "f1": macro_f1(y, pred),
            "confusion": confusion_matrix(y, pred, n_classes)}


def run_gmpatl(cfg: GMPATLConfig, run_dir: str | Path, config_path: str | Path | None = None,
               progress: Progress | None = None) -> dict:
    """Run (or resume) the pipeline on ``cfg.fold``; returns the contents of ``RUN/metrics.json``."""
    from after.training.gmpatl import stages
    from after.training.learners import seeded
    out = Path(run_dir)
    cfg = resolve_paths(cfg, config_path)
    with RunDirectory(out) as run:
        manifest, folds = load_dataset(cfg.data, None, out)
        inputs = {"manifest": cfg.data.manifest or out / "manifest.csv",
                  "folds": cfg.data.folds or out / "folds.csv", **backbone_inputs(cfg.model.backbone)}
        run.bind(config_to_dict(cfg), inputs, has_results=(out / "stages").is_dir())
        labels = manifest.labels()
        clips = _clips(cfg, manifest, labels)
        train, val, test = _fold_rows(cfg, manifest, folds)
        _check_gender(cfg, clips, train)
        model = _build_model(cfg, len(labels))
        lam, summaries = cfg.gender_weight, {}
        summaries[STAGES[0]] = _stage(out, STAGES[0], model, lambda: stages.multitask(
            model, clips, train, val, lam, cfg.multitask, cfg.seed, progress))
        ids, summaries[STAGES[1]] = _pseudo_label_stage(out, cfg, model, clips, train)
        with seeded(cfg.seed + 1):
            model.add_frame_heads(cfg.pseudo_labels.n_clusters)
        model.to(next(model.backbone.parameters()).device)
        summaries[STAGES[2]] = _stage(out, STAGES[2], model, lambda: stages.retrain(
            model, clips, train, ids, lam, cfg.retrain, cfg.multitask.max_clip_s, cfg.seed + 1, progress))
        if cfg.emotion_loss.loss == "am_softmax":
            model.use_cosine_head(cfg.emotion_loss.scale)
        summaries[STAGES[3]] = _stage(out, STAGES[3], model, lambda: stages.finetune(
            model, clips, train, val, cfg.emotion_loss, cfg.finetune, cfg.seed + 2, progress))
        t = time.perf_counter()
        proba = stages.predict(model, clips, test, cfg.finetune.max_clip_s, cfg.finetune.embed_batch_seconds)
        score = _score(clips, test, proba, len(labels))
        timings = {f"{name}_s": s["seconds"] for name, s in summaries.items()}
        timings["test_and_save_s"] = time.perf_counter() - t
        metrics = {**score, "labels": labels, "fold": cfg.fold, "seed": cfg.seed, "backbone": cfg.model.backbone,
                   "method": "gmp-atl" if cfg.uses_gender else "pseudo-tapt",
                   "n_train": len(train), "n_val": len(val), "n_test": len(test), "timings": timings,
                   "stages": {k: {kk: vv for kk, vv in v.items() if kk != "history"} for k, v in summaries.items()}}
        write_predictions([{"id": manifest[int(i)].id, "fold": cfg.fold, "seed": cfg.seed,
                            "true": int(clips.emotion[i]), "pred": int(p.argmax()), "proba": p}
                           for i, p in zip(test, proba)], labels, out / "predictions.csv")
        save_model(model, out / "model", cfg, labels, {k: v for k, v in metrics.items() if k != "stages"})
        write_json(metrics, out / "metrics.json")
    log.info("GMP-ATL fold %d: UA %.3f WA %.3f F1 %.3f", cfg.fold, score["ua"], score["wa"], score["f1"])
    return metrics
