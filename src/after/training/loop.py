"""The fine-tuning loop: length-bucketed batches, Adam, AMP on CUDA, gradient accumulation, early stopping
on validation loss with the best weights kept in memory. Read top to bottom: :func:`train_model`.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Sequence

import numpy as np
import torch

from after.backbones.batching import exact_batches, length_batches
from after.training.config import TrainConfig
from after.training.heads import badge_gradients
from after.training.learners import seeded
from after.training.losses import check_finite, inverse_frequency_weights, soft_cross_entropy
from after.training.model import SERModel

log = logging.getLogger(__name__)

LoadWave = Callable[[int], np.ndarray]   # pool row -> float32 mono 16 kHz waveform
Progress = Callable[[str, int, int], None]


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _autocast(device: torch.device, enabled: bool):
    # fp16 autocast on CUDA only: CPU autocast (bf16) is slower than fp32 on most CPUs.
    return torch.autocast(device_type="cuda", dtype=torch.float16, enabled=enabled and device.type == "cuda")


def make_optimizer(model: SERModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam; the encoder at ``lr`` (1e-4, the paper's), the fresh head and layer weights at ``head_lr``."""
    head_ids = {id(p) for m in model.head_modules() for p in m.parameters()}
    head = [p for p in model.parameters() if p.requires_grad and id(p) in head_ids]
    enc = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    groups = [{"params": head, "lr": cfg.head_lr}]
    if enc:
        groups.append({"params": enc, "lr": cfg.lr})
    return torch.optim.Adam(groups, weight_decay=cfg.weight_decay)


@torch.no_grad()
def infer(model: SERModel, load: LoadWave, durations_s: np.ndarray, idx: Sequence[int], batch_seconds: float,
          amp: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(logits [n, C], penultimate [n, H])`` for pool rows ``idx``, in the order given.

    Runs in the model's current mode (``eval`` for predictions, dropout on for MC dropout). Each forward
    holds clips of one ``batch_key`` (:func:`~after.backbones.batching.exact_batches`), so a clip's outputs
    do not depend on which clips share its batch.
    """
    idx = np.asarray(idx, dtype=np.int64)
    device = _device(model)
    logits, feats = [None] * len(idx), [None] * len(idx)
    for pos, inputs in exact_batches(model.backbone, durations_s[idx], batch_seconds, lambda j: load(int(idx[j]))):
        with _autocast(device, amp):
            h = model.penultimate(inputs)
            z = model.head.out(h)
        for j, hj, zj in zip(pos, h.float().cpu().numpy(), z.float().cpu().numpy()):
            logits[j], feats[j] = zj, hj
    return np.stack(logits), np.stack(feats)


def _mean_loss(model, load, durations_s, idx, y, w, cfg) -> float:
    model.eval()
    logits, _ = infer(model, load, durations_s, idx, cfg.embed_batch_seconds, cfg.amp)
    with torch.no_grad():
        return float(soft_cross_entropy(torch.from_numpy(logits), torch.from_numpy(y), w))


def train_model(model: SERModel, load: LoadWave, durations_s: np.ndarray, train_idx: np.ndarray,
                y_train: np.ndarray, val_idx: np.ndarray, y_val: np.ndarray, cfg: TrainConfig, seed: int,
                progress: Progress | None = None) -> dict:
    """Fine-tune ``model`` in place on soft labels ``y [n, C]``; leaves it holding its best-validation weights.

    Returns ``{"epochs", "best_epoch", "best_val_loss", "seconds", "history": [{"epoch", "train_loss",
    "val_loss"}]}``. Without validation rows, early stopping watches the training loss.
    Training batches are shuffled mixed-length batches (padded: a clip's padding is part of its training
    noise); validation and predictions go through :func:`infer`, whose batches never change a clip's outputs.
    """
    t0 = time.perf_counter()
    device = _device(model)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    opt = make_optimizer(model, cfg)
    w_np = inverse_frequency_weights(y_train) if cfg.class_weights else None
    w = torch.from_numpy(w_np) if w_np is not None else None
    w_dev = w.to(device) if w is not None else None
    if len(val_idx) == 0:
        log.warning("no validation rows: early stopping on the training loss")
        val_idx, y_val = train_idx, y_train
    rng = np.random.default_rng(seed)
    best, best_epoch, best_state, history = float("inf"), 0, model.trainable_state(), []
    epoch = 0
    with seeded(seed):
        for epoch in range(1, cfg.max_epochs + 1):
            model.train()
            batches = length_batches(durations_s[train_idx], cfg.batch_seconds, shuffle=True, rng=rng)
            total, n_seen = 0.0, 0
            opt.zero_grad(set_to_none=True)
            for step, batch in enumerate(batches, start=1):
                waves = [load(int(train_idx[j])) for j in batch]
                target = torch.from_numpy(y_train[batch]).to(device)
                with _autocast(device, use_amp):
                    logits = model(waves)
                loss = soft_cross_entropy(logits, target, w_dev)
                check_finite(loss, f"epoch {epoch}, training batch {step} of {len(batches)}")
                scaler.scale(loss / cfg.grad_accum).backward()
                if step % cfg.grad_accum == 0 or step == len(batches):
                    scaler.step(opt)
                    scaler.update()
                    opt.zero_grad(set_to_none=True)
                total += loss.item() * len(batch)
                n_seen += len(batch)
                if progress:
                    progress("train", step, len(batches))
            # unweighted: class weights describe the training labels (a class absent there has weight 0)
            val = _mean_loss(model, load, durations_s, val_idx, y_val, None, cfg)
            check_finite(val, f"epoch {epoch}, validation loss")
            history.append({"epoch": epoch, "train_loss": total / max(n_seen, 1), "val_loss": val})
            log.info("epoch %d: train loss %.4f, val loss %.4f", epoch, total / max(n_seen, 1), val)
            if val < best - 1e-6:
                best, best_epoch, best_state = val, epoch, model.trainable_state()
            elif epoch - best_epoch >= cfg.patience:
                log.info("early stop: no lower validation loss for %d epochs", cfg.patience)
                break
    model.load_state_dict(best_state, strict=False)
    model.eval()
    return {"epochs": epoch, "best_epoch": best_epoch, "best_val_loss": best,
            "seconds": time.perf_counter() - t0, "history": history}


def mc_dropout_mode(model: SERModel) -> None:
    """Everything in eval mode (no SpecAugment, no LayerDrop) except the ``nn.Dropout`` modules."""
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.train()


def gradient_embeddings(logits: np.ndarray, penultimate: np.ndarray) -> np.ndarray:
    """BADGE embeddings ``[n, C*H]`` from the head's logits and inputs (closed form)."""
    return badge_gradients(torch.from_numpy(penultimate), torch.from_numpy(logits)).numpy()
