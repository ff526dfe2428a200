"""Masking spans of an encoder's input frames (the frame embeddings its transformer reads), for stage 3.

HuBERT replaces the frames of random spans with a learned vector before the transformer and predicts the
hidden units there. We do the same for every backbone through a forward hook on the module that makes
the frame embeddings: Whisper's second convolution (``[B, D, T]``, before its GELU) and the wav2vec2
family's feature projection (``[B, T, D]``). The backbones themselves stay untouched.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
from torch import nn

from after.backbones.base import Backbone


def span_mask(valid_frames: np.ndarray, n_frames: int, mask_prob: float, span: int,
              rng: np.random.Generator) -> np.ndarray:
    """Bool ``[B, n_frames]``: every valid frame starts a span of ``span`` frames with chance ``mask_prob``.

    Spans stop at the clip's last valid frame; a clip with no span drawn (or shorter than one span) still
    gets one, so every clip contributes masked frames. Padding is never masked.
    """
    if not 0 < mask_prob <= 1 or span < 1:
        raise ValueError(f"mask_prob must be in (0, 1] and mask_span >= 1, got {mask_prob}, {span}")
    mask = np.zeros((len(valid_frames), n_frames), dtype=bool)
    for b, n in enumerate(np.minimum(np.asarray(valid_frames, dtype=np.int64), n_frames)):
        n = max(int(n), 1)
        starts = np.flatnonzero(rng.random(n) < mask_prob)
        if starts.size == 0:
            starts = rng.integers(0, max(n - span, 0) + 1, size=1)
        for s in starts:
            mask[b, s:min(s + span, n)] = True
    return mask


def frame_input_module(backbone: Backbone) -> tuple[nn.Module, bool]:
    """The module whose output is the encoder's input frames, and whether that output is channels-first."""
    if backbone.kind == "whisper":
        return backbone.encoder.conv2, True
    model = getattr(backbone, "model", None)
    if model is not None and hasattr(model, "feature_projection"):
        return model.feature_projection, False
    raise ValueError(f"masked-frame retraining does not know where {backbone.kind!r} makes its input frames; "
                     "use a Whisper or wav2vec2-family backbone")


@contextlib.contextmanager
def masked_input_frames(backbone: Backbone, vector: torch.Tensor, mask: np.ndarray) -> Iterator[torch.Tensor]:
    """Inside the block, the frames where ``mask [B, T]`` is True are replaced by ``vector [D]``.

    Yields the mask as a bool tensor on the backbone's device (what the loss selects frames with).
    """
    module, channels_first = frame_input_module(backbone)
    device = vector.device
    m = torch.as_tensor(mask, device=device)

    def hook(_module, _inputs, output):
        frames = output[0] if isinstance(output, tuple) else output
        x = frames.transpose(1, 2) if channels_first else frames          # [B, T, D]
        if x.shape[:2] != m.shape:
            raise RuntimeError(f"mask shape {tuple(m.shape)} does not fit the input frames {tuple(x.shape[:2])}")
        x = torch.where(m[..., None], vector.to(x.dtype)[None, None, :], x)
        x = x.transpose(1, 2) if channels_first else x
        return (x, *output[1:]) if isinstance(output, tuple) else x

    handle = module.register_forward_hook(hook)
    try:
        yield m
    finally:
        handle.remove()
