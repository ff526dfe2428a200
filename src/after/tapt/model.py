"""The encoder under adaptation, its training-only heads, and the loss of Eq. 3 for one batch.

:class:`TaptModel` wraps a loaded :class:`~after.backbones.Backbone` (the same object ``after train``
loads), so the adapted weights are saved by the backbone's own ``save_pretrained`` and load back through
:func:`~after.backbones.load_backbone`. Targets:

- wav2vec2 (``Wav2Vec2ForPreTraining`` quantizer + ``project_q`` / ``project_hid``, from the checkpoint
  when it has them): Eq. 1 against the other masked frames' quantized vectors, Eq. 2 over the gumbel
  quantizer's hard codes (one per group), the diversity term.
- every other encoder: BEST-RQ codes of the clean input frames (:mod:`after.tapt.quantizer`).
"""
from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from torch import nn

from after.backbones.ssl import SSLBackbone
from after.backbones.whisper import WhisperBackbone
from after.tapt import objectives as obj
from after.tapt.config import TaptConfig
from after.tapt.inputs import (LogMel, MaskedForward, conv_stride, ensure_mask_embedding, ssl_masked_forward,
                               whisper_masked_forward)
from after.tapt.quantizer import RandomProjectionQuantizer, normalise_frames, stack_frames

log = logging.getLogger(__name__)


def load_wav2vec2_quantizer(bb: SSLBackbone) -> nn.Module:
    """``Wav2Vec2ForPreTraining`` around ``bb.model``: its quantizer and projections come from the checkpoint
    when it holds them (pre-training checkpoints do), else they start random (logged)."""
    from transformers import Wav2Vec2ForPreTraining
    from after.backbones.loading import from_pretrained
    pretraining, info = from_pretrained(Wav2Vec2ForPreTraining, bb.source)
    missing = [k for k in info.get("missing_keys", ()) if k.startswith(("quantizer.", "project_"))]
    if missing:
        log.warning("%s has no quantizer weights (%d tensors missing): the wav2vec 2.0 quantizer starts from "
                    "random weights and is trained by the diversity and contrastive terms", bb.source, len(missing))
    pretraining.wav2vec2 = bb.model          # the verified encoder the rest of `after` loads
    return pretraining


class TaptModel(nn.Module):
    """``loss(waves, step_seed) -> (total, {term: value})`` for one batch; ``backbone`` is what gets saved."""

    def __init__(self, backbone, cfg: TaptConfig):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        o, d = cfg.objective, backbone.hidden_size
        self.pretraining = None
        self.targets = self._target_kind()
        if isinstance(backbone, SSLBackbone):
            self._spec_augment = backbone.model.config.apply_spec_augment
            ensure_mask_embedding(backbone, cfg.seed)
            self.log_mel = LogMel(max(1, conv_stride(backbone) // o.stack_frames))
        if self.targets == "quantizer":
            self.pretraining = load_wav2vec2_quantizer(backbone)
            q = self.pretraining.quantizer
            q.temperature = o.gumbel_temperature
            self.groups, self.vars = q.num_groups, q.num_vars
            self.code_head = nn.Linear(d, q.num_groups * q.num_vars)
        elif self.targets == "random_projection":
            in_dim = o.stack_frames * self._input_features()
            self.quantizer = RandomProjectionQuantizer(in_dim, o.code_dim, o.n_codes, o.quantizer_seed)
            self.code_head = nn.Linear(d, o.n_codes)
            self.context_projection = nn.Linear(d, o.code_dim)
        else:   # kmeans units of the frozen original's layer: fitted by fit_units before the first step
            self.register_buffer("centroids", torch.zeros(o.kmeans_units, d))
            self.register_buffer("units_ready", torch.tensor(False))
            self.code_head = nn.Linear(d, o.kmeans_units)
            self.context_projection = nn.Linear(d, d)
        self.teacher = None     # the frozen original: distillation reference and k-means feature extractor
        if o.distillation > 0 or self.targets == "kmeans":
            self.teacher = copy.deepcopy(backbone).eval().requires_grad_(False)

    def _target_kind(self) -> str:
        t = self.cfg.objective.targets
        if t == "auto":
            return "quantizer" if getattr(self.backbone, "kind", "") == "wav2vec2" else "random_projection"
        return t

    @property
    def needs_units(self) -> bool:
        return self.targets == "kmeans" and not bool(self.units_ready)

    def fit_units(self, batches) -> None:
        """Fit the k-means targets on ``batches`` (lists of waveforms from the adaptation pool)."""
        from after.tapt.units import fit_units
        o = self.cfg.objective
        centroids = fit_units(self.teacher, batches, self._units_layer(), o.kmeans_units, o.kmeans_max_frames,
                              self.cfg.seed)
        self.centroids.copy_(centroids.to(self.centroids.device))
        self.units_ready.fill_(True)

    def _units_layer(self) -> int:
        layer = self.cfg.objective.kmeans_layer
        return self.backbone.num_hidden_states // 2 if layer is None else layer

    def train(self, mode: bool = True) -> "TaptModel":
        """Train mode for the encoder, heads and quantizer (its gumbel sampling needs it); the teacher stays
        in eval mode (no dropout in the reference it distils towards)."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def full_position_tables(self) -> "TaptModel":
        """Whisper crops its position table per batch; a checkpoint stores (and loads into) the full table."""
        for bb in (self.backbone, self.teacher):
            if isinstance(bb, WhisperBackbone):
                bb._crop_positions(bb.max_frames)
        return self

    def _input_features(self) -> int:
        if isinstance(self.backbone, WhisperBackbone):
            return int(self.backbone.encoder.config.num_mel_bins)
        return int(self.log_mel.filters.shape[0])

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters outside the encoder: the heads and, for wav2vec2, the quantizer and projections."""
        enc = {id(p) for p in self.backbone.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in enc]

    def masked_forward(self, waves, rng: np.random.Generator, noise: torch.Generator) -> MaskedForward:
        m = self.cfg.mask
        if isinstance(self.backbone, WhisperBackbone):
            return whisper_masked_forward(self.backbone, waves, rng, m.fraction, m.span, m.noise_std, noise)
        return ssl_masked_forward(self.backbone, waves, rng, m.fraction, m.span, self.log_mel)

    def loss(self, waves, step_seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Eq. 3 as a weighted sum of the switched-on terms; masks and noise drawn from ``step_seed``."""
        rng = np.random.default_rng(step_seed)
        noise = torch.Generator().manual_seed(int(step_seed))
        fwd = self.masked_forward(waves, rng, noise)
        o = self.cfg.objective
        reference = None
        if self.teacher is not None:
            with torch.no_grad():
                reference = self.teacher(waves).hidden_states
        if self.targets == "quantizer":
            terms = self._quantizer_terms(fwd)
        else:
            terms = self._code_terms(fwd, *self._codes(fwd, reference))
        if o.distillation > 0:
            terms["distillation"] = self._distillation(reference, fwd)
        weights = {"contrastive": o.contrastive, "reconstruction": o.reconstruction, "diversity": o.diversity,
                   "distillation": o.distillation}
        total = sum(weights[k] * v for k, v in terms.items())
        return total, terms

    def _codes(self, fwd: MaskedForward, reference) -> tuple[torch.Tensor, torch.Tensor]:
        """Target ids ``[B, T]`` and the vectors they index (BEST-RQ codebook or k-means centroids)."""
        n_frames = fwd.hidden.shape[2]
        if self.targets == "kmeans":
            from after.tapt.units import assign_units
            if self.needs_units:
                raise RuntimeError("k-means targets used before fit_units (the trainer fits them first)")
            h = reference[self._units_layer()][:, :n_frames]
            if h.shape[1] < n_frames:
                h = nn.functional.pad(h, (0, 0, 0, n_frames - h.shape[1]))
            return assign_units(h, self.centroids), self.centroids
        o = self.cfg.objective
        frames = stack_frames(fwd.target_input.float(), o.stack_frames, n_frames)
        return self.quantizer(normalise_frames(frames, fwd.valid)), self.quantizer.codebook

    def _code_terms(self, fwd: MaskedForward, codes: torch.Tensor, vectors: torch.Tensor) -> dict[str, torch.Tensor]:
        o, last = self.cfg.objective, fwd.hidden[-1]
        terms = {}
        if o.reconstruction > 0:
            terms["reconstruction"] = obj.code_cross_entropy(self.code_head(last), codes, fwd.masked)
        if o.contrastive > 0:
            terms["contrastive"] = obj.contrastive_over_codebook(
                self.context_projection(last), vectors, codes, fwd.masked, fwd.valid, o.temperature)
        return terms

    def _quantizer_terms(self, fwd: MaskedForward) -> dict[str, torch.Tensor]:
        o, pt = self.cfg.objective, self.pretraining
        feats = pt.dropout_features(fwd.extract_features)
        code_logits = pt.quantizer.weight_proj(feats).view(*feats.shape[:2], self.groups, self.vars)
        quantized, _ = pt.quantizer(feats, mask_time_indices=fwd.masked)
        terms = {}
        if o.contrastive > 0:
            terms["contrastive"] = obj.contrastive_within_utterance(
                pt.project_hid(fwd.hidden[-1]), pt.project_q(quantized), fwd.masked, o.temperature)
        if o.reconstruction > 0:
            logits = self.code_head(fwd.hidden[-1]).view(*fwd.hidden.shape[1:3], self.groups, self.vars)
            terms["reconstruction"] = obj.code_cross_entropy(logits, code_logits.argmax(-1).detach(), fwd.masked)
        if o.diversity > 0:
            terms["diversity"] = obj.codebook_diversity(code_logits, fwd.masked)
        return terms

    def _distillation(self, ref: torch.Tensor, fwd: MaskedForward) -> torch.Tensor:
        o = self.cfg.objective
        layers = [i % fwd.hidden.shape[0] for i in o.distill_layers]
        t = min(ref.shape[2], fwd.hidden.shape[2])
        keep = (fwd.valid & ~fwd.masked)[:, :t]
        return obj.hidden_state_distillation(fwd.hidden[layers, :, :t], ref[layers, :, :t], keep, o.distill_metric)

    def save_backbone(self, path: str) -> None:
        """The adapted encoder as a folder :func:`~after.backbones.load_backbone` accepts (wav2vec2 keeps its
        quantizer, so a later TAPT continues from it)."""
        if isinstance(self.backbone, SSLBackbone):
            self.backbone.model.config.apply_spec_augment = self._spec_augment
            try:
                (self.pretraining or self.backbone.model).save_pretrained(path)
            finally:
                self.backbone.model.config.apply_spec_augment = True
            return
        self.backbone.save_pretrained(path)
