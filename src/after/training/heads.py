"""Layer mixing, pooling and the classifier head; BADGE gradient embeddings in closed form."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from after.backbones.base import masked_mean


class LayerMix(nn.Module):
    """Softmax-weighted sum of hidden states (SUPERB style), or just the last one.

    Input ``[..., L, D]`` (layer axis second to last) -> ``[..., D]``.
    """

    def __init__(self, n_layers: int, mode: str = "weighted"):
        super().__init__()
        if mode not in ("weighted", "last"):
            raise ValueError(f"layers must be 'weighted' or 'last', got {mode!r}")
        self.mode = mode
        self.logits = nn.Parameter(torch.zeros(n_layers)) if mode == "weighted" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.logits is None:
            return x[..., -1, :]
        w = torch.softmax(self.logits, dim=0).to(x.dtype)
        return (x * w[:, None]).sum(-2)

    def rows(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``self(x[rows])`` for ``x [N, L, D]`` without gathering the ``[len(rows), L, D]`` block: one fused
        gather and weighted sum (``embedding_bag``), forward and backward, so a training step reads each of
        its rows once and copies none. Equal to ``self(x[rows])`` up to float rounding."""
        if self.logits is None:
            return x[rows, -1]
        n, n_layers, dim = x.shape
        w = torch.softmax(self.logits, dim=0).to(x.dtype)
        bags = rows[:, None] * n_layers + torch.arange(n_layers, device=rows.device)   # [B, L] rows of x as [N*L, D]
        return F.embedding_bag(bags, x.reshape(n * n_layers, dim), mode="sum",
                               per_sample_weights=w.expand(len(rows), n_layers))


class AttentivePooling(nn.Module):
    """Attention over valid frames: ``[B, T, D]``, mask ``[B, T]`` -> ``[B, D]``."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim // 2), nn.Tanh(), nn.Linear(dim // 2, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s = self.score(x).squeeze(-1).float().masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, dim=-1).to(x.dtype)
        return (a.unsqueeze(-1) * x).sum(1)


class MeanPooling(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_mean(x, mask)


POOLINGS = {"mean": lambda dim: MeanPooling(), "attentive": AttentivePooling}


class MLPHead(nn.Module):
    """Dropout -> Linear(D, H) -> ReLU -> Dropout -> Linear(H, C); ``hidden_dim=0`` gives Dropout -> Linear."""

    def __init__(self, dim: int, n_classes: int, hidden_dim: int = 256, dropout: float = 0.2):
        super().__init__()
        if hidden_dim > 0:
            self.body = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout))
            self.out = nn.Linear(hidden_dim, n_classes)
        else:
            self.body = nn.Dropout(dropout)
            self.out = nn.Linear(dim, n_classes)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the last layer: ``[B, H]`` (``[B, D]`` for a linear head)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))

    def forward_masked(self, x: torch.Tensor, mask_in: torch.Tensor | None, mask_hidden: torch.Tensor | None
                       ) -> torch.Tensor:
        """The training-mode forward with the dropout masks given (each 0 or ``1 / (1 - p)``, as
        ``nn.Dropout`` scales; None: no dropout there): the same computation as :meth:`forward` in train
        mode, with masks the caller draws (:class:`DropoutMasks`)."""
        if mask_in is not None:
            x = x * mask_in
        if not isinstance(self.body, nn.Sequential):   # a linear head: Dropout -> Linear
            return self.out(x)
        h = torch.relu(self.body[1](x))
        if mask_hidden is not None:
            h = h * mask_hidden
        return self.out(h)

    @property
    def hidden_features(self) -> int:
        """Width of the hidden layer's output (the input width for a linear head)."""
        return self.out.in_features


class DropoutMasks:
    """Dropout masks for :meth:`MLPHead.forward_masked`: Bernoulli(1 - p) draws scaled by ``1 / (1 - p)``,
    the distribution ``nn.Dropout`` uses, from a private stream seeded by ``seed``.

    On the CPU the uniforms come from NumPy's PCG64 (three times faster than ``torch.rand``, five times
    faster than ``bernoulli_``, measured in ``bench/bench_head_fit.py``); elsewhere from ``torch.rand`` on
    the device. A mask keeps a unit when its uniform in [0, 1) is below 1 - p (float32 uniforms, as
    ``torch.rand`` draws them)."""

    def __init__(self, p: float, seed: int, device: torch.device):
        self.p, self.device = float(p), torch.device(device)
        self.keep = 1.0 - self.p
        if self.device.type == "cpu":
            self._np = np.random.Generator(np.random.PCG64(seed))
        else:
            self._torch = torch.Generator(device=self.device).manual_seed(seed)

    def __call__(self, n: int, width: int, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
        if self.p == 0:
            return None
        if self.device.type == "cpu":
            u = torch.from_numpy(self._np.random((n, width), dtype=np.float32))
        else:
            u = torch.rand((n, width), generator=self._torch, device=self.device)
        return u.lt_(self.keep).mul_(1.0 / self.keep).to(dtype)


def badge_gradients(h: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Gradient of CE at the predicted label w.r.t. the last layer's weight, in closed form (Ash et al. 2020).

    For ``z = W h + b`` and ``CE = -log softmax(z)[y_hat]``: ``dCE/dW = (p - onehot(y_hat)) h^T``.
    ``h [n, d]``, ``logits [n, c]`` -> ``[n, c*d]`` (class-major).
    """
    p = torch.softmax(logits.float(), dim=-1)
    p = p - nn.functional.one_hot(p.argmax(-1), p.shape[-1]).to(p.dtype)
    return (p[:, :, None] * h.float()[:, None, :]).reshape(h.shape[0], -1)
