"""Backbone names -> loaders: a plain dict per family, and :func:`load_backbone` for any spec."""
from __future__ import annotations

import logging

import torch

from after.backbones.base import Backbone
from after.backbones.handcrafted import EgemapsFeatures, LogMelStats
from after.backbones.loading import resolve_source
from after.backbones.ssl import SSL_MODEL_TYPES, SSLBackbone
from after.backbones.whisper import WhisperBackbone

log = logging.getLogger(__name__)

FEATURE_BACKBONES = {"egemaps": EgemapsFeatures, "logmel": LogMelStats}
NEURAL_BACKBONES = {"whisper": WhisperBackbone, **{t: SSLBackbone for t in SSL_MODEL_TYPES}}

AnyBackbone = Backbone | EgemapsFeatures | LogMelStats


def is_feature_backbone(spec: str) -> bool:
    return spec in FEATURE_BACKBONES


def load_backbone(spec: str, dtype: torch.dtype | None = None) -> AnyBackbone:
    """Load ``egemaps``, ``logmel``, a hub id / alias (``whisper-base``) or a local HF folder.

    Neural backbones come back on CPU in eval mode with their loaded weights verified.
    """
    if spec in FEATURE_BACKBONES:
        return FEATURE_BACKBONES[spec]()
    from transformers import AutoConfig
    source = resolve_source(spec)
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as exc:
        raise FileNotFoundError(
            f"backbone {spec!r} (resolved to {source!r}) not found: give a local model folder, one of "
            f"{sorted(FEATURE_BACKBONES)}, or a hub id reachable online / in the HF cache") from exc
    cls = NEURAL_BACKBONES.get(config.model_type)
    if cls is None:
        raise ValueError(f"backbone {spec!r}: model_type {config.model_type!r} is not supported; "
                         f"supported: {sorted(NEURAL_BACKBONES)} and {sorted(FEATURE_BACKBONES)}")
    bb = cls.load(source, dtype=dtype)
    log.info("loaded %s backbone from %s (%d hidden states x %d)", bb.kind, source, bb.num_hidden_states,
             bb.hidden_size)
    return bb.eval()
