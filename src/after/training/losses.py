"""Cross-entropy on hard or soft labels, with optional class weights."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from after.errors import AfterError


class NonFiniteLossError(AfterError, RuntimeError):
    """Training or validation loss became NaN or infinite; the message names the epoch and the batch
    (and, from the active-learning loop, the round)."""


def check_finite(loss: torch.Tensor | float, where: str) -> None:
    """Raise :class:`NonFiniteLossError` naming ``where`` if ``loss`` is NaN or infinite."""
    value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    if not np.isfinite(value):
        raise NonFiniteLossError(f"{where}: the loss is {value}")


def as_soft_labels(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Hard labels ``[n]`` int -> one-hot ``[n, c]``; soft labels ``[n, c]`` are checked and passed on."""
    y = np.asarray(y)
    if y.ndim == 1:
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"hard labels must lie in [0, {n_classes}), got [{y.min()}, {y.max()}]")
        return np.eye(n_classes, dtype=np.float32)[y.astype(np.int64)]
    if y.ndim != 2 or y.shape[1] != n_classes:
        raise ValueError(f"labels must be int [n] or float [n, {n_classes}], got shape {y.shape}")
    if (y < 0).any() or not np.allclose(y.sum(1), 1.0, atol=1e-3):
        raise ValueError("soft labels must be non-negative and sum to 1 per row")
    return y.astype(np.float32)


def inverse_frequency_weights(y_soft: np.ndarray) -> np.ndarray:
    """``[c]`` weights ~ 1 / class mass in ``y_soft``, mean 1 over the classes present (absent: 0)."""
    mass = y_soft.sum(0)
    w = np.where(mass > 0, 1.0 / np.maximum(mass, 1e-12), 0.0)
    present = mass > 0
    return (w / w[present].mean()).astype(np.float32)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """Mean CE against a distribution ``target [n, c]``; equals ``F.cross_entropy`` (with ``weight=``) on one-hot."""
    logp = F.log_softmax(logits.float(), dim=-1)
    if class_weights is None:
        return -(target * logp).sum(-1).mean()
    wt = target * class_weights[None, :]
    return -(wt * logp).sum() / wt.sum().clamp(min=1e-12)
