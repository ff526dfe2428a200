"""Fine-tuning only the top of an encoder without re-running its frozen bottom every epoch.

With ``freeze: first_n`` the CNN front end and the first N layers never change, so their hidden states are
computed once per clip (alone, with no padding and no dropout) and kept in memory; each training step
runs only the layers above. :class:`FrozenPrefix` computes and holds those states,
:class:`PrefixBackbone` is the trainable top, a :class:`~after.backbones.base.Backbone` whose inputs are
the cached states instead of waveforms.

Supported where the backbone can run its top layers alone (``run_top``): Whisper.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from after.backbones.base import Backbone, BackboneOutput, frame_mask

log = logging.getLogger(__name__)


def supports_prefix_cache(backbone: Backbone) -> bool:
    return callable(getattr(backbone, "run_top", None))


class FrozenPrefix:
    """Hidden states ``[first+1, T, D]`` (float16, CPU) of the frozen bottom, per clip, computed on first use.

    Memory: (first+1) x T x D x 2 bytes per clip, e.g. 0.9 MB for a 3.7 s clip through whisper-base's
    first 4 layers.
    """

    def __init__(self, backbone: Backbone, first: int, load_wave: Callable[[int], np.ndarray]):
        if not 0 < first < len(backbone.layers()):
            raise ValueError(f"a cached prefix needs 0 < freeze_first_n < {len(backbone.layers())}, got {first}")
        self.backbone, self.first, self.load_wave = backbone, first, load_wave
        self._cache: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, i: int) -> torch.Tensor:
        if i not in self._cache:
            was_training = self.backbone.training
            self.backbone.eval()
            try:
                out = self.backbone([self.load_wave(i)])
            finally:
                self.backbone.train(was_training)
            n = int(out.mask[0].sum())
            self._cache[i] = out.hidden_states[: self.first + 1, 0, :n].to("cpu", torch.float16).clone()
        return self._cache[i]


class PrefixBackbone(Backbone):
    """The trainable top of ``base`` above layer ``first``; ``forward`` takes cached prefix states.

    Only the top layers and the final norm are registered as parameters, so optimisers, freeze policies
    and checkpoints see exactly what trains; ``save_pretrained`` saves the whole encoder (the top layers
    are the base encoder's own modules).
    """

    def __init__(self, base: Backbone, first: int):
        super().__init__()
        object.__setattr__(self, "base", base)     # not a submodule: its frozen bottom stays out of training
        self.first = first
        self.top = nn.ModuleList(list(base.layers())[first:])
        self.norms = nn.ModuleList(base.top_modules())
        self.kind, self.source = base.kind, base.source

    @property
    def hidden_size(self) -> int:
        return self.base.hidden_size

    @property
    def num_hidden_states(self) -> int:
        return self.base.num_hidden_states

    def layers(self) -> nn.ModuleList:
        return self.top

    def feature_encoder(self) -> list[nn.Module]:
        return []

    def top_modules(self) -> list[nn.Module]:
        return list(self.norms)

    def valid_frames(self, n_samples: torch.Tensor) -> torch.Tensor:
        raise TypeError("PrefixBackbone takes cached hidden states, not samples")

    def batch_key(self, n_samples: int) -> int:
        """The cached prefix's frame count: prefixes of equal length are stacked without padding."""
        return int(self.base.valid_frames(torch.tensor([int(n_samples)]))[0])

    def input_key(self, x: torch.Tensor) -> int:
        return int(x.shape[1])

    def forward(self, prefixes: Sequence[torch.Tensor]) -> BackboneOutput:
        """``prefixes``: per clip ``[first+1, T_i, D]`` -> all hidden states ``[L+1, B, T, D]`` and mask."""
        param = next(self.top.parameters())
        lengths = torch.tensor([p.shape[1] for p in prefixes])
        t = int(lengths.max())
        bottom = torch.stack([nn.functional.pad(p.to(param.device, param.dtype), (0, 0, 0, t - p.shape[1]))
                              for p in prefixes], dim=1)                       # [first+1, B, T, D]
        top = self.base.run_top(bottom[-1], self.first)
        hidden = torch.cat([bottom, torch.stack(top)], dim=0)
        return BackboneOutput(hidden, frame_mask(lengths.to(param.device), t))

    def save_pretrained(self, path: str) -> None:
        self.base.save_pretrained(path)

    def fingerprint(self) -> str:
        return self.base.fingerprint()
