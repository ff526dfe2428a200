"""The losses and training runs of stages 1, 3 and 4 (stage 2 is :mod:`.pseudolabels`).

Every loss is a plain function of a batch (waveforms and targets), so tests can check that each one
falls on a repeated batch; the stage functions wrap them in :func:`~.loop.run_epochs`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from after.backbones.batching import exact_batches
from after.training.config import TrainConfig
from after.training.gmpatl.amsoftmax import am_softmax_loss
from after.training.gmpatl.config import EmotionLossConfig, RetrainConfig
from after.training.gmpatl.loop import Progress, make_optimizer, run_epochs
from after.training.gmpatl.masking import masked_input_frames, span_mask
from after.training.gmpatl.model import IGNORE, GMPModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clips:
    """The fold's clip table: ``read(i, max_clip_s)`` gives row ``i``'s waveform; labels are int ``[N]``
    (``gender`` holds :data:`IGNORE` where unknown)."""

    read: Callable[[int, float], np.ndarray]
    durations_s: np.ndarray
    emotion: np.ndarray
    gender: np.ndarray

    def reader(self, max_clip_s: float) -> Callable[[int], np.ndarray]:
        return lambda i: self.read(i, max_clip_s)

    def cropped(self, max_clip_s: float) -> np.ndarray:
        return np.minimum(self.durations_s, max_clip_s)


def _device(model: GMPModel) -> torch.device:
    return next(model.parameters()).device


def gender_loss(model: GMPModel, pooled: torch.Tensor, y_gender: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over clips of known gender; 0 for a batch with none."""
    known = y_gender != IGNORE
    if not bool(known.any()):
        return pooled.sum() * 0.0
    return F.cross_entropy(model.gender_logits(pooled[known]).float(), y_gender[known])


def multitask_loss(model: GMPModel, waves, y_emotion: torch.Tensor, y_gender: torch.Tensor,
                   gender_weight: float) -> torch.Tensor:
    """Stage 1: emotion CE + ``gender_weight`` x gender CE on the shared pooled vector."""
    pooled = model.pooled(model.encode(waves))
    loss = F.cross_entropy(model.emotion_logits(pooled).float(), y_emotion)
    if gender_weight > 0:
        loss = loss + gender_weight * gender_loss(model, pooled, y_gender)
    return loss


def frame_targets(ids: Sequence[np.ndarray], n_frames: int, device) -> torch.Tensor:
    """Per-clip ``[S, T_i]`` ids -> ``[S, B, n_frames]`` padded with :data:`IGNORE`."""
    out = torch.full((ids[0].shape[0], len(ids), n_frames), IGNORE, dtype=torch.long)
    for b, x in enumerate(ids):
        if x.shape[1] > n_frames:
            raise RuntimeError(f"pseudo-labels of {x.shape[1]} frames for a clip the encoder gives {n_frames} "
                               "(clips must be cropped as in stage 2)")
        out[:, b, : x.shape[1]] = torch.from_numpy(x)
    return out.to(device)


def retrain_loss(model: GMPModel, waves, ids: Sequence[np.ndarray], y_gender: torch.Tensor, gender_weight: float,
                 cfg: RetrainConfig, rng: np.random.Generator) -> torch.Tensor:
    """Stage 3: summed CE of every scale's ids at masked frames + ``gender_weight`` x gender CE."""
    bb = model.backbone
    valid = bb.valid_frames(torch.tensor([len(w) for w in waves])).cpu().numpy()
    n_frames = int(valid.max())
    mask = span_mask(valid, n_frames, cfg.mask_prob, cfg.mask_span, rng)
    with masked_input_frames(bb, model.mask_vector, mask) as m:
        out = model.encode(waves)
    if out.hidden_states.shape[2] != n_frames:
        raise RuntimeError(f"{bb.kind}: {out.hidden_states.shape[2]} frames, expected {n_frames}")
    targets = frame_targets(ids, n_frames, m.device)
    picked = m & out.mask
    loss = sum(F.cross_entropy(logits[picked].float(), t[picked], ignore_index=IGNORE)
               for logits, t in zip(model.frame_logits(out, cfg.predict_layer), targets))
    if gender_weight > 0:
        loss = loss + gender_weight * gender_loss(model, model.pooled(out), y_gender)
    return loss


def emotion_loss(model: GMPModel, waves, y_emotion: torch.Tensor, cfg: EmotionLossConfig) -> torch.Tensor:
    """Stage 4: cross-entropy, or AM-Softmax on the cosine head (see :meth:`GMPModel.use_cosine_head`)."""
    logits = model.emotion_logits(model.pooled(model.encode(waves))).float()
    if cfg.loss == "am_softmax":
        return am_softmax_loss(logits / cfg.scale, y_emotion, cfg.margin, cfg.scale)
    return F.cross_entropy(logits, y_emotion)


@torch.no_grad()
def mean_loss(model: GMPModel, clips: Clips, rows: np.ndarray, max_clip_s: float, batch_seconds: float,
              loss: Callable[[list, np.ndarray], torch.Tensor]) -> float:
    """Clip-weighted mean of ``loss(waves, batch_rows)`` over ``rows`` in eval mode, on batches of one
    ``batch_key`` (a clip's outputs do not depend on its batch partners)."""
    model.eval()
    total = 0.0
    for pos, waves in _exact_batches(model, clips, rows, max_clip_s, batch_seconds):
        total += float(loss(waves, rows[pos])) * len(pos)
    return total / max(len(rows), 1)


def _exact_batches(model: GMPModel, clips: Clips, rows: np.ndarray, max_clip_s: float, batch_seconds: float):
    """Yields ``(positions in rows, waveforms)``: inference batches split into groups of one ``batch_key``."""
    read = clips.reader(max_clip_s)
    return exact_batches(model.backbone, clips.cropped(max_clip_s)[rows], batch_seconds,
                         lambda j: read(int(rows[j])))


def _labels(y: np.ndarray, rows: np.ndarray, device) -> torch.Tensor:
    return torch.as_tensor(y[rows], dtype=torch.long, device=device)


def _early_stopped(model: GMPModel, clips: Clips, train: np.ndarray, val: np.ndarray, cfg: TrainConfig,
                   loss: Callable[[list, np.ndarray], torch.Tensor], seed: int, stage: str,
                   progress: Progress | None) -> dict:
    """Stages 1 and 4: ``loss(waves, rows)`` trained on ``train`` with early stopping on ``val`` (when any)."""
    read = clips.reader(cfg.max_clip_s)
    opt = make_optimizer(model, cfg.lr, cfg.head_lr, cfg.weight_decay)
    val_loss = (lambda: mean_loss(model, clips, val, cfg.max_clip_s, cfg.embed_batch_seconds, loss)) \
        if len(val) else None
    return run_epochs(model, train, clips.cropped(cfg.max_clip_s), cfg.batch_seconds, cfg.max_epochs, opt,
                      lambda r: loss([read(int(i)) for i in r], r), val_loss, cfg.patience, seed, stage, progress)


def multitask(model: GMPModel, clips: Clips, train: np.ndarray, val: np.ndarray, gender_weight: float,
              cfg: TrainConfig, seed: int, progress: Progress | None = None) -> dict:
    """Stage 1 on the training rows, early stopping on the validation rows."""
    dev = _device(model)

    def loss(waves, r):
        return multitask_loss(model, waves, _labels(clips.emotion, r, dev), _labels(clips.gender, r, dev),
                              gender_weight)

    return _early_stopped(model, clips, train, val, cfg, loss, seed, "multitask", progress)


def retrain(model: GMPModel, clips: Clips, train: np.ndarray, ids: dict[int, np.ndarray], gender_weight: float,
            cfg: RetrainConfig, max_clip_s: float, seed: int, progress: Progress | None = None) -> dict:
    """Stage 3 on the training rows for ``cfg.epochs`` epochs; ``ids[row]`` is that clip's ``[S, T]``."""
    dev, read = _device(model), clips.reader(max_clip_s)
    rng = np.random.default_rng([seed, 3])

    def loss(r):
        return retrain_loss(model, [read(int(i)) for i in r], [ids[int(i)] for i in r],
                            _labels(clips.gender, r, dev), gender_weight, cfg, rng)

    opt = make_optimizer(model, cfg.lr, cfg.head_lr)
    return run_epochs(model, train, clips.cropped(max_clip_s), cfg.batch_seconds, cfg.epochs, opt, loss, None,
                      0, seed, "retrain", progress)


def finetune(model: GMPModel, clips: Clips, train: np.ndarray, val: np.ndarray, loss_cfg: EmotionLossConfig,
             cfg: TrainConfig, seed: int, progress: Progress | None = None) -> dict:
    """Stage 4: emotion only, early stopping on the validation rows."""
    dev = _device(model)

    def loss(waves, r):
        return emotion_loss(model, waves, _labels(clips.emotion, r, dev), loss_cfg)

    return _early_stopped(model, clips, train, val, cfg, loss, seed, "finetune", progress)


@torch.no_grad()
def predict(model: GMPModel, clips: Clips, rows: np.ndarray, max_clip_s: float, batch_seconds: float) -> np.ndarray:
    """``[n, C]`` emotion probabilities for ``rows``, in that order (each clip's as it gets alone)."""
    model.eval()
    out = [None] * len(rows)
    for pos, waves in _exact_batches(model, clips, rows, max_clip_s, batch_seconds):
        logits = model.emotion_logits(model.pooled(model.encode(waves)))
        for j, p in zip(pos, torch.softmax(logits.float(), -1).cpu().numpy()):
            out[j] = p
    return np.stack(out)
