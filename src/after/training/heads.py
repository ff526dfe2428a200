"""Layer mixing, pooling and the classifier head; BADGE gradient embeddings in closed form."""
from __future__ import annotations

import torch
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


def badge_gradients(h: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Gradient of CE at the predicted label w.r.t. the last layer's weight, in closed form (Ash et al. 2020).

    For ``z = W h + b`` and ``CE = -log softmax(z)[y_hat]``: ``dCE/dW = (p - onehot(y_hat)) h^T``.
    ``h [n, d]``, ``logits [n, c]`` -> ``[n, c*d]`` (class-major).
    """
    p = torch.softmax(logits.float(), dim=-1)
    p = p - nn.functional.one_hot(p.argmax(-1), p.shape[-1]).to(p.dtype)
    return (p[:, :, None] * h.float()[:, None, :]).reshape(h.shape[0], -1)
