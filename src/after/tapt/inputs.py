"""Masked forward passes through a backbone's own modules, one per input family.

Each returns a :class:`MaskedForward`: every hidden state of the *masked* input, the frames that carry
audio, the frames that were masked, and the unmasked input frames the random-projection targets are
computed from (always from the clean input, never from the noise that replaced it).

- Whisper: masked encoder frames become Gaussian noise in the log-mel input (both mel frames of a 20 ms
  encoder frame); the position table is cropped to the batch as in :mod:`after.backbones.whisper`.
- wav2vec2 family: the feature encoder's output is masked with the model's ``masked_spec_embed``
  (``mask_time_indices``); the targets' input is a log-mel spectrogram at twice the encoder's frame rate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from after.backbones.base import SAMPLE_RATE_HZ, Waves, as_tensors, frame_mask
from after.backbones.ssl import SSLBackbone
from after.backbones.whisper import WhisperBackbone
from after.tapt.masking import span_mask


@dataclass
class MaskedForward:
    hidden: torch.Tensor        # [L+1, B, T, D] hidden states of the masked input
    valid: torch.Tensor         # bool [B, T]: frames carrying audio
    masked: torch.Tensor        # bool [B, T]: masked frames (a subset of valid)
    target_input: torch.Tensor  # [B, F, T_in] clean input frames for the random-projection targets
    extract_features: torch.Tensor | None = None   # wav2vec2: the feature encoder's output [B, T, C]


def whisper_masked_forward(bb: WhisperBackbone, waves: Waves, rng: np.random.Generator, fraction: float,
                           span: int, noise_std: float, noise: torch.Generator) -> MaskedForward:
    device = bb._full_pos.device
    clips = [c[: bb.max_samples] for c in as_tensors(waves, "cpu")]
    n_samples = torch.tensor([c.shape[0] for c in clips])
    feats = bb.log_mel(clips)                                           # [B, n_mels, 2T]
    n_frames = feats.shape[-1] // 2
    valid = frame_mask(bb.valid_frames(n_samples), n_frames)
    masked = span_mask(bb.valid_frames(n_samples), n_frames, fraction, span, rng) & valid
    per_mel = masked.repeat_interleave(feats.shape[-1] // n_frames, dim=1)[:, None, :]   # [B, 1, 2T]
    filler = torch.randn(feats.shape, generator=noise) * noise_std
    inputs = torch.where(per_mel, filler, feats)
    bb._crop_positions(n_frames)
    out = bb.encoder(inputs.to(device=device, dtype=bb.encoder.conv1.weight.dtype), output_hidden_states=True)
    return MaskedForward(torch.stack(out.hidden_states), valid.to(device), masked.to(device), feats.to(device))


class LogMel(nn.Module):
    """Log-mel frames ``[B, n_mels, T_in]`` with hop ``hop_samples`` (target input for wav2vec2-style models)."""

    def __init__(self, hop_samples: int, n_fft: int = 400, n_mels: int = 80):
        super().__init__()
        from transformers.audio_utils import mel_filter_bank
        fb = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=0.0,
                             max_frequency=SAMPLE_RATE_HZ / 2, sampling_rate=SAMPLE_RATE_HZ, norm="slaney",
                             mel_scale="slaney")
        self.register_buffer("filters", torch.tensor(fb, dtype=torch.float32).T)   # [n_mels, F]
        self.register_buffer("window", torch.hann_window(n_fft))
        self.hop, self.n_fft = hop_samples, n_fft

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x.float(), self.n_fft, self.hop, window=self.window, pad_mode="constant",
                          return_complex=True).abs() ** 2
        return torch.log10((self.filters @ spec).clamp(min=1e-10))


def ssl_masked_forward(bb: SSLBackbone, waves: Waves, rng: np.random.Generator, fraction: float, span: int,
                       log_mel: LogMel) -> MaskedForward:
    device = next(bb.model.parameters()).device
    # a batch of clips shorter than one frame is padded to one: the convs would refuse it
    x, n_samples, attn = bb.batch_inputs(waves, min_samples=receptive_field(bb))
    n_frames = int(bb.model._get_feat_extract_output_lengths(torch.tensor(x.shape[1])))
    frames = bb.valid_frames(n_samples).cpu()
    valid = frame_mask(frames, n_frames).to(device)
    masked = span_mask(frames, n_frames, fraction, span, rng).to(device) & valid
    out = bb.model(x.to(bb.model.dtype), attention_mask=attn, mask_time_indices=masked, output_hidden_states=True)
    return MaskedForward(torch.stack(out.hidden_states), valid, masked, log_mel(x),
                         getattr(out, "extract_features", None))


def conv_stride(bb: SSLBackbone) -> int:
    """Samples per encoder frame of a wav2vec2-family model (320 for the base models)."""
    return int(np.prod(bb.model.config.conv_stride))


def receptive_field(bb: SSLBackbone) -> int:
    """Samples the feature encoder needs for one output frame (400 for the base models)."""
    size, jump = 1, 1
    for k, st in zip(bb.model.config.conv_kernel, bb.model.config.conv_stride):
        size += (k - 1) * jump
        jump *= st
    return size


def ensure_mask_embedding(bb: SSLBackbone, seed: int) -> None:
    """Give a model built with masking off (``mask_time_prob == 0``) its ``masked_spec_embed`` and switch
    the ``mask_time_indices`` path on, so TAPT can mask the feature encoder's output."""
    model = bb.model
    if getattr(model, "masked_spec_embed", None) is None:
        g = torch.Generator().manual_seed(int(seed))
        model.masked_spec_embed = nn.Parameter(torch.rand(model.config.hidden_size, generator=g))
    model.config.apply_spec_augment = True
