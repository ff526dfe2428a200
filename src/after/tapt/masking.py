"""Span masks over encoder frames, seeded per step so a resumed run draws the same masks.

A clip shorter than a span gets a shorter span (half its frames, at least one frame); a clip of a single
frame is left unmasked (nothing would remain to predict it from) and simply adds no masked-frame term.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def span_mask(valid_frames: torch.Tensor, n_frames: int, fraction: float, span: int,
              rng: np.random.Generator) -> torch.Tensor:
    """Bool ``[B, n_frames]``: about ``fraction`` of each clip's valid frames, in spans of ``span`` frames.

    ``valid_frames``: ``[B]`` real frames per clip (the rest is padding and is never masked).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"mask fraction must be in (0, 1), got {fraction}")
    if span < 1:
        raise ValueError(f"mask span must be >= 1 frame, got {span}")
    out = np.zeros((len(valid_frames), n_frames), dtype=bool)
    for b, t in enumerate(valid_frames.tolist()):
        t = min(int(t), n_frames)
        if t < 2:
            continue
        length = max(1, min(span, t // 2))
        target = max(1, math.ceil(fraction * t))
        for _ in range(4 * (target // length + 1)):      # spans may overlap: draw until enough are masked
            start = int(rng.integers(0, t - length + 1))
            out[b, start:start + length] = True
            if out[b, :t].sum() >= target:
                break
    return torch.from_numpy(out)
