"""The uniform backbone interface: waveforms in, every hidden state plus a mask of valid frames out.

A neural backbone is an ``nn.Module`` whose ``forward(waves)`` takes a list of 16 kHz mono waveforms of any
lengths and returns :class:`BackboneOutput`. Padding never leaks into pooled features because every
backbone reports which frames are real (``mask``), computed from the sample counts per architecture.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from after.errors import AfterError

SAMPLE_RATE_HZ = 16_000

Waves = Sequence["np.ndarray | torch.Tensor"]


class MissingWeightsError(AfterError, RuntimeError):
    """A checkpoint whose encoder tensors did not all load (transformers only logs this), or whose weights
    file is truncated or damaged."""


@contextlib.contextmanager
def quiet_hub_progress():
    """Silence transformers' own progress bars (e.g. "Writing model shards") for the block, then restore them.

    A library saving a checkpoint should not draw a bar in the middle of the caller's own progress output.
    """
    from transformers.utils import logging as hf_logging
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@dataclass
class BackboneOutput:
    """``hidden_states``: ``[L+1, B, T, D]`` (embedding output, then each layer); ``mask``: bool ``[B, T]``."""

    hidden_states: torch.Tensor
    mask: torch.Tensor


def as_tensors(waves: Waves, device: torch.device | str) -> list[torch.Tensor]:
    """Waveforms as 1-D float32 tensors on ``device``."""
    out = []
    for w in waves:
        t = torch.as_tensor(w, dtype=torch.float32)
        if t.ndim != 1:
            raise ValueError(f"waveforms must be 1-D mono arrays, got shape {tuple(t.shape)}")
        out.append(t.to(device))
    return out


def frame_mask(valid_frames: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Bool ``[B, n_frames]``: True where a frame index is below that clip's valid frame count."""
    idx = torch.arange(n_frames, device=valid_frames.device)
    return idx[None, :] < valid_frames.clamp(min=1, max=n_frames)[:, None]


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid frames. ``hidden`` ``[..., B, T, D]``, ``mask`` ``[B, T]`` -> ``[..., B, D]``."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(-2) / m.sum(-2).clamp(min=1.0)


class Backbone(nn.Module, ABC):
    """Base class of the neural backbones (wav2vec2 family, Whisper): subclasses implement the abstract
    methods below."""

    kind: str = ""
    source: str = ""           # the hub id or local folder it was loaded from

    @property
    def num_hidden_states(self) -> int:
        """L+1: the embedding output plus one per transformer layer."""
        return len(self.layers()) + 1

    @property
    @abstractmethod
    def hidden_size(self) -> int:
        """D, the width of every hidden state."""

    @abstractmethod
    def forward(self, waves: Waves) -> BackboneOutput:
        """All hidden states ``[L+1, B, T, D]`` and the valid-frame mask ``[B, T]``."""

    @abstractmethod
    def layers(self) -> nn.ModuleList:
        """The transformer layers, bottom first (freeze policies use them)."""

    @abstractmethod
    def feature_encoder(self) -> list[nn.Module]:
        """The convolutional front end (frozen by the ``feature_encoder`` policy)."""

    def top_modules(self) -> list[nn.Module]:
        """Modules above the last layer (a final LayerNorm), trained with the top layers."""
        return []

    @abstractmethod
    def save_pretrained(self, path: str) -> None:
        """Write a folder that :func:`~after.backbones.load_backbone` loads again."""

    @abstractmethod
    def valid_frames(self, n_samples: torch.Tensor) -> torch.Tensor:
        """Output frames carrying real audio, per clip, from its sample count."""

    def batch_key(self, n_samples: int) -> int:
        """Which clips may share an inference forward exactly: clips of equal keys, batched together, each get
        the outputs they get alone (up to float rounding), because they are padded to the length they have
        alone (or padding is masked). The safe default is the exact sample count: no padding at all."""
        return int(n_samples)

    def input_key(self, x) -> int:
        """:meth:`batch_key` of one loaded input (a 1-D waveform here)."""
        return self.batch_key(len(x))

    def fingerprint(self) -> str:
        """A hash of the architecture and every weight: the identity embedding caches are keyed by."""
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{self.kind}|{type(self).__name__}".encode())
        for name, tensor in sorted(self.state_dict().items()):
            if name.endswith("embed_positions.weight"):
                continue  # cropped per batch; its full table is fixed sinusoids (hashed via _full_pos below)
            h.update(name.encode())
            h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        extra = getattr(self, "_full_pos", None)
        if extra is not None:
            h.update(extra.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.hexdigest()
