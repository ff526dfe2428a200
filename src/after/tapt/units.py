"""HuBERT-style targets: k-means units of one of the frozen original encoder's own layers.

The centroids are fitted once, before the first step, on frames of the adaptation pool only (a seeded
subset of clips and frames), and stored in the model's state, so a resumed run reuses them.
"""
from __future__ import annotations

import logging
from typing import Iterable

import numpy as np
import torch

log = logging.getLogger(__name__)


@torch.no_grad()
def layer_frames(encoder, waves, layer: int) -> torch.Tensor:
    """``[n_valid_frames, D]``: hidden state ``layer`` of ``encoder`` on the valid frames of ``waves``."""
    out = encoder(waves)
    return out.hidden_states[layer][out.mask].float()


def fit_units(encoder, batches: Iterable[list], layer: int, n_units: int, max_frames: int, seed: int) -> torch.Tensor:
    """k-means centroids ``[n_units, D]`` of ``layer`` over the frames of ``batches`` (lists of waveforms)."""
    from sklearn.cluster import KMeans
    frames = torch.cat([layer_frames(encoder, b, layer).cpu() for b in batches]).numpy()
    rng = np.random.default_rng([seed, 104729])
    if len(frames) > max_frames:
        frames = frames[np.sort(rng.choice(len(frames), max_frames, replace=False))]
    if len(frames) < n_units:
        raise ValueError(f"k-means targets: {len(frames)} frames for {n_units} units; lower objective.kmeans_units "
                         "or give more clips")
    km = KMeans(n_clusters=n_units, n_init=1, random_state=seed).fit(frames)
    log.info("k-means targets: %d units fitted on %d frames of layer %d", n_units, len(frames), layer)
    return torch.tensor(km.cluster_centers_, dtype=torch.float32)


def assign_units(hidden: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid per frame: ``hidden`` ``[B, T, D]`` -> unit ids ``[B, T]``."""
    d = (hidden.float() ** 2).sum(-1, keepdim=True) - 2 * hidden.float() @ centroids.T + (centroids ** 2).sum(-1)
    return d.argmin(-1)
