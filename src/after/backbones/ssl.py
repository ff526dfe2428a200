"""Self-supervised wav2vec2-family encoders: wav2vec2, HuBERT, WavLM, data2vec-audio.

Loaded with ``AutoModel.from_pretrained`` (hub id or folder). Each clip is normalised on its own (zero
mean, unit variance, as their feature extractors do) *before* padding, so a clip's input does not depend
on its batch partners; the attention mask is passed only to models trained with one
(``feat_extract_norm == "layer"``), as the checkpoints' own feature extractors prescribe.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import nn

from after.backbones.base import Backbone, BackboneOutput, Waves, as_tensors, frame_mask, quiet_hub_progress
from after.backbones.loading import check_loaded, from_pretrained

log = logging.getLogger(__name__)

SSL_MODEL_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")


def _preprocessor_options(source: str, config) -> tuple[bool, bool]:
    """(do_normalize, return_attention_mask) from the folder's preprocessor_config.json, else the config."""
    default_mask = getattr(config, "feat_extract_norm", "group") == "layer"
    p = Path(source) / "preprocessor_config.json"
    if p.is_file():
        d = json.loads(p.read_text())
        return bool(d.get("do_normalize", True)), bool(d.get("return_attention_mask", default_mask))
    return True, default_mask


class SSLBackbone(Backbone):
    """A wav2vec2-family encoder behind the uniform :class:`Backbone` interface."""

    def __init__(self, model: nn.Module, source: str, normalize: bool, use_attention_mask: bool):
        super().__init__()
        self.model = model
        self.kind = model.config.model_type
        self.source = source
        self.normalize = normalize
        self.use_attention_mask = use_attention_mask

    @classmethod
    def load(cls, source: str, dtype: torch.dtype | None = None) -> "SSLBackbone":
        from transformers import AutoModel
        kwargs = {"dtype": dtype} if dtype is not None else {}
        model, info = from_pretrained(AutoModel, source, **kwargs)
        if model.config.model_type not in SSL_MODEL_TYPES:
            raise ValueError(f"{source}: model_type {model.config.model_type!r} is not one of {SSL_MODEL_TYPES}")
        check_loaded(model, source, info, encoder_prefixes=("",),
                     file_prefixes=("", model.base_model_prefix + "."))
        # LayerDrop skips whole layers in training, which changes the number of hidden states the learned
        # layer weights expect; fine-tuning here keeps every layer.
        model.config.layerdrop = 0.0
        normalize, use_mask = _preprocessor_options(source, model.config)
        return cls(model, source, normalize, use_mask)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def layers(self) -> nn.ModuleList:
        return self.model.encoder.layers

    def feature_encoder(self) -> list[nn.Module]:
        return [self.model.feature_extractor]

    def top_modules(self) -> list[nn.Module]:
        # Pre-LN ("stable layer norm", large models) ends with encoder.layer_norm; post-LN applies it first.
        return [self.model.encoder.layer_norm] if getattr(self.model.config, "do_stable_layer_norm", False) else []

    def valid_frames(self, n_samples: torch.Tensor) -> torch.Tensor:
        return self.model._get_feat_extract_output_lengths(n_samples).long()

    def batch_key(self, n_samples: int) -> int:
        """One key for all with an attention mask (padding is masked); without one (group-norm wav2vec2 and
        HuBERT base) the exact sample count, as padding would leak through the group norm and attention."""
        return 0 if self.use_attention_mask else int(n_samples)

    def batch_inputs(self, waves: Waves, min_samples: int = 0
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(x [B, S], n_samples [B], attention mask [B, S] or None)``: the clips normalised as the checkpoint
        expects, zero-padded to the longest (and to at least ``min_samples``)."""
        device = next(self.model.parameters()).device
        clips = as_tensors(waves, device)
        if self.normalize:
            clips = [(c - c.mean()) / torch.sqrt(c.var(unbiased=False) + 1e-7) for c in clips]
        n_samples = torch.tensor([c.shape[0] for c in clips], device=device)
        x = nn.utils.rnn.pad_sequence(clips, batch_first=True)
        if x.shape[1] < min_samples:
            x = nn.functional.pad(x, (0, min_samples - x.shape[1]))
        attn = (torch.arange(x.shape[1], device=device)[None] < n_samples[:, None]).long() \
            if self.use_attention_mask else None
        return x, n_samples, attn

    def forward(self, waves: Waves) -> BackboneOutput:
        x, n_samples, attn = self.batch_inputs(waves)
        out = self.model(x.to(self.model.dtype), attention_mask=attn, output_hidden_states=True)
        hidden = torch.stack(out.hidden_states)              # [L+1, B, T, D]
        return BackboneOutput(hidden, frame_mask(self.valid_frames(n_samples), hidden.shape[2]))

    def save_pretrained(self, path: str) -> None:
        with quiet_hub_progress():
            self.model.save_pretrained(path)
