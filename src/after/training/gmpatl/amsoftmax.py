"""AM-Softmax (additive margin softmax, Wang et al. 2018) and the cosine classifier it needs.

With unit-length weights ``w_c`` and input ``x``, the logits are ``cos_c = w_c . x / |x|``; the loss is
``-log( e^{s (cos_y - m)} / (e^{s (cos_y - m)} + sum_{c != y} e^{s cos_c}) )``. At prediction time the
class probabilities are ``softmax(s cos)`` (no margin).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CosineLinear(nn.Module):
    """``[B, D] -> [B, C]`` cosines between the input and each class weight, times ``scale``."""

    def __init__(self, dim: int, n_classes: int, scale: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, dim))
        nn.init.xavier_uniform_(self.weight)
        self.register_buffer("scale", torch.tensor(float(scale)))

    def cosines(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x.float(), dim=-1) @ F.normalize(self.weight.float(), dim=-1).T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.cosines(x)


def am_softmax_loss(cosines: torch.Tensor, target: torch.Tensor, margin: float, scale: float) -> torch.Tensor:
    """Mean AM-Softmax loss; ``cosines [B, C]`` in [-1, 1], ``target [B]`` class ids."""
    onehot = F.one_hot(target.long(), cosines.shape[-1]).to(cosines.dtype)
    return F.cross_entropy(scale * (cosines - margin * onehot), target.long())
