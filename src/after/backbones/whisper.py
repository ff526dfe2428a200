"""Whisper's encoder without the 30-second padding.

HF Whisper pads every clip to 30 s (3000 mel frames) and the encoder refuses any other length. A 3 s clip
would then cost ten times its compute, and pooled features would be mostly padding. The position table is
fixed sinusoids, so its prefix is exactly what the model saw at those positions: we crop it to the batch's
length before each forward, and restore the full table before ``save_pretrained``.
Loaded as ``WhisperModel.from_pretrained(source).encoder``: ``WhisperEncoder.from_pretrained`` would find
none of the ``encoder.``-prefixed keys and silently keep random weights.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from after.backbones.base import Backbone, BackboneOutput, Waves, as_tensors, frame_mask, quiet_hub_progress
from after.backbones.loading import check_loaded, from_pretrained

log = logging.getLogger(__name__)

HOP_SAMPLES = 160           # 10 ms mel hop
SAMPLES_PER_FRAME = 320     # the second conv has stride 2: one encoder frame per 20 ms


class WhisperBackbone(Backbone):
    """Whisper's encoder, position table cropped per batch; ``forward`` works on any clip up to 30 s."""

    kind = "whisper"

    def __init__(self, encoder: nn.Module, feature_extractor, source: str):
        super().__init__()
        self.encoder = encoder
        self.fe = feature_extractor
        self.source = source
        self.max_frames = int(encoder.config.max_source_positions)
        self.register_buffer("_full_pos", encoder.embed_positions.weight.detach().clone(), persistent=False)
        self._cropped_to = self.max_frames

    @classmethod
    def load(cls, source: str, dtype: torch.dtype | None = None) -> "WhisperBackbone":
        from transformers import WhisperFeatureExtractor, WhisperModel
        kwargs = {"dtype": dtype} if dtype is not None else {}
        model, info = from_pretrained(WhisperModel, source, **kwargs)
        check_loaded(model, source, info, encoder_prefixes=("encoder.",), file_prefixes=("", "model."))
        encoder = model.encoder
        encoder.layerdrop = 0.0  # LayerDrop would change the number of hidden states mid-training
        del model  # the decoder (absent from encoder-only checkpoints, random there) is never used
        try:
            fe = WhisperFeatureExtractor.from_pretrained(source)
        except OSError:
            log.info("%s: no preprocessor_config.json; using WhisperFeatureExtractor(%d mels)",
                     source, encoder.config.num_mel_bins)
            fe = WhisperFeatureExtractor(feature_size=encoder.config.num_mel_bins)
        return cls(encoder, fe, source)

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.d_model)

    @property
    def max_samples(self) -> int:
        return self.max_frames * SAMPLES_PER_FRAME

    def layers(self) -> nn.ModuleList:
        return self.encoder.layers

    def feature_encoder(self) -> list[nn.Module]:
        return [self.encoder.conv1, self.encoder.conv2]

    def top_modules(self) -> list[nn.Module]:
        return [self.encoder.layer_norm]

    def valid_frames(self, n_samples: torch.Tensor) -> torch.Tensor:
        return torch.div(n_samples + SAMPLES_PER_FRAME - 1, SAMPLES_PER_FRAME, rounding_mode="floor").long()

    def batch_key(self, n_samples: int) -> int:
        """Encoder frames, ``ceil(n / 320)`` (at least 1, at most 1500): the feature extractor pads a clip alone
        to whole frames (``pad_to_multiple_of``), so clips of equal frame counts see no extra padding together.
        """
        n = min(int(n_samples), self.max_samples)
        return max(1, -(-n // SAMPLES_PER_FRAME))

    def _crop_positions(self, n_frames: int) -> None:
        if n_frames == self._cropped_to:
            return
        table = self._full_pos[:n_frames]
        self.encoder.embed_positions = nn.Embedding.from_pretrained(table, freeze=True)
        # The length check in WhisperEncoder.forward reads this (the config object is shared with the model).
        self.encoder.config.max_source_positions = n_frames
        self._cropped_to = n_frames

    def log_mel(self, clips: list[torch.Tensor]) -> torch.Tensor:
        """``[B, n_mels, 2n]``: padded to whole encoder frames, never to 30 s."""
        feats = self.fe([c.detach().cpu().numpy() for c in clips], sampling_rate=self.fe.sampling_rate,
                        padding="longest", pad_to_multiple_of=SAMPLES_PER_FRAME, return_tensors="pt").input_features
        return feats

    def forward(self, waves: Waves) -> BackboneOutput:
        device = self._full_pos.device
        clips = [c[: self.max_samples] for c in as_tensors(waves, "cpu")]
        n_samples = torch.tensor([c.shape[0] for c in clips])
        feats = self.log_mel(clips).to(device=device, dtype=self.encoder.conv1.weight.dtype)
        n_frames = feats.shape[-1] // 2
        self._crop_positions(n_frames)
        out = self.encoder(feats, output_hidden_states=True)
        hidden = torch.stack(out.hidden_states)              # [L+1, B, T, D]
        return BackboneOutput(hidden, frame_mask(self.valid_frames(n_samples).to(device), hidden.shape[2]))

    def frontend(self, waves: Waves) -> BackboneOutput:
        """The convolutional front end alone: ``gelu(conv2(gelu(conv1(log-mel))))`` ``[1, B, T, D]``, BEFORE
        the sinusoidal positions are added. ``forward``'s hidden state 0 is this plus the position table,
        so its time average encodes the clip's length (the mean of the table's first T rows); this is the
        "CNN-based encoder" output AFTER's k-means cold start clusters."""
        device = self._full_pos.device
        clips = [c[: self.max_samples] for c in as_tensors(waves, "cpu")]
        n_samples = torch.tensor([c.shape[0] for c in clips])
        feats = self.log_mel(clips).to(device=device, dtype=self.encoder.conv1.weight.dtype)
        h = nn.functional.gelu(self.encoder.conv1(feats))
        h = nn.functional.gelu(self.encoder.conv2(h)).permute(0, 2, 1)     # [B, T, D]
        return BackboneOutput(h[None], frame_mask(self.valid_frames(n_samples).to(device), h.shape[1]))

    def run_top(self, hidden: torch.Tensor, first: int) -> list[torch.Tensor]:
        """Layers ``first ..`` on ``hidden`` ``[B, T, D]`` (the output of layer ``first``): their hidden
        states, the last one after the final LayerNorm, exactly as :meth:`forward` reports them."""
        states = []
        for layer in self.encoder.layers[first:]:
            out = layer(hidden, None)
            hidden = out[0] if isinstance(out, tuple) else out   # transformers 4.x returns a tuple
            states.append(hidden)
        states[-1] = self.encoder.layer_norm(states[-1])
        return states

    def save_pretrained(self, path: str) -> None:
        """Save as a ``WhisperModel`` folder (encoder tensors only) with the full 30 s position table."""
        from transformers import WhisperConfig, WhisperModel
        self._crop_positions(self.max_frames)
        cfg = WhisperConfig.from_dict(self.encoder.config.to_dict())
        shell = WhisperModel(cfg)       # a throwaway decoder: the checkpoint format users load expects it
        shell.encoder = self.encoder
        state = {k: v for k, v in shell.state_dict().items() if k.startswith("encoder.")}
        with quiet_hub_progress():
            shell.save_pretrained(path, state_dict=state)
        self.fe.save_pretrained(path)
        Path(path, "README.after.txt").write_text(f"Encoder of {self.source}, saved by after.\n")
