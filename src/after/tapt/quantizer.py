"""BEST-RQ's random-projection quantizer (Chiu et al. 2022): targets that need no training, no clustering.

Input frames are normalised and stacked to the encoder's frame rate, projected by a frozen random matrix
and assigned the nearest vector of a frozen random, l2-normalised codebook. Both are drawn from
``seed`` alone, so the same seed gives the same targets (and a resumed run the same ones).
"""
from __future__ import annotations

import torch
from torch import nn


def stack_frames(feats: torch.Tensor, stack: int, n_frames: int) -> torch.Tensor:
    """``[B, F, T_in]`` input frames -> ``[B, n_frames, F * stack]``: ``stack`` consecutive frames per
    encoder frame (cut or zero-padded to ``n_frames``)."""
    b, f, t_in = feats.shape
    need = n_frames * stack
    if t_in < need:
        feats = nn.functional.pad(feats, (0, need - t_in))
    x = feats[:, :, :need].reshape(b, f, n_frames, stack)
    return x.permute(0, 2, 3, 1).reshape(b, n_frames, stack * f)


def normalise_frames(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per clip and feature: zero mean, unit variance over the clip's valid frames. ``x`` ``[B, T, F]``."""
    m = mask.to(x.dtype).unsqueeze(-1)
    n = m.sum(1, keepdim=True).clamp(min=1.0)
    mean = (x * m).sum(1, keepdim=True) / n
    var = (((x - mean) * m) ** 2).sum(1, keepdim=True) / n
    return (x - mean) / torch.sqrt(var + 1e-5)


class RandomProjectionQuantizer(nn.Module):
    """Frozen ``projection`` ``[in_dim, code_dim]`` (Xavier) and ``codebook`` ``[n_codes, code_dim]`` (unit rows)."""

    def __init__(self, in_dim: int, code_dim: int, n_codes: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        bound = (6.0 / (in_dim + code_dim)) ** 0.5
        projection = (torch.rand(in_dim, code_dim, generator=g) * 2 - 1) * bound
        codebook = nn.functional.normalize(torch.randn(n_codes, code_dim, generator=g), dim=-1)
        self.register_buffer("projection", projection)
        self.register_buffer("codebook", codebook)

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, T, in_dim]`` normalised frames -> code ids ``[B, T]`` (nearest unit codebook vector)."""
        z = nn.functional.normalize(frames.float() @ self.projection, dim=-1)
        return (z @ self.codebook.T).argmax(-1)   # unit vectors: max cosine = min l2 distance
