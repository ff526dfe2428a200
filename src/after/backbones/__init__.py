"""Speech encoders behind one interface, and cached frozen embeddings.

- :func:`load_backbone` (``"whisper-base"``, a hub id, a local HF folder, ``"egemaps"``, ``"logmel"``)
- :class:`Backbone`: ``forward(list of waveforms) -> BackboneOutput(hidden_states [L+1,B,T,D], mask [B,T])``
- :func:`extract_embeddings`: ``[n, L+1, D]`` mean-pooled per layer, cached per clip on disk.
"""
from after.backbones.base import Backbone, BackboneOutput, MissingWeightsError, masked_mean
from after.backbones.batching import length_batches
from after.backbones.embeddings import default_cache_dir, extract_embeddings, pick_device, pooled_hidden_states
from after.backbones.registry import FEATURE_BACKBONES, NEURAL_BACKBONES, is_feature_backbone, load_backbone

__all__ = [
    "Backbone", "BackboneOutput", "MissingWeightsError", "masked_mean", "length_batches", "default_cache_dir",
    "extract_embeddings", "pick_device", "pooled_hidden_states", "FEATURE_BACKBONES", "NEURAL_BACKBONES",
    "is_feature_backbone", "load_backbone",
]
