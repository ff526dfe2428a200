"""Stage 2: frame-level pseudo-labels from multi-scale k-means on one layer of the stage-1 model.

Only training clips are ever read here (the orchestrator passes the fold's training rows; a test spies
on :func:`training_frames`). Frames are normalised as the model normalises its hidden states, so the
clusters see what the heads see. ``frames`` below are lists with one ``[T_i, D]`` array per clip.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch

from after.backbones.batching import exact_batches
from after.training.gmpatl.config import PseudoLabelConfig
from after.training.gmpatl.model import GMPModel

log = logging.getLogger(__name__)

ReadClip = Callable[[int], np.ndarray]


@torch.no_grad()
def training_frames(model: GMPModel, read: ReadClip, rows: Sequence[int], durations_s: np.ndarray, layer: int,
                    batch_seconds: float) -> list[np.ndarray]:
    """Hidden state ``layer`` of every valid frame of clips ``rows`` (in that order): ``[T_i, D]`` float32,
    each clip's as it gets alone (forwards hold clips of one ``batch_key``)."""
    rows = np.asarray(rows, dtype=np.int64)
    model.eval()
    out: list[np.ndarray | None] = [None] * len(rows)
    for pos, waves in exact_batches(model.backbone, durations_s[rows], batch_seconds, lambda j: read(int(rows[j]))):
        enc = model.encode(waves)
        h = enc.hidden_states[layer].float().cpu().numpy()
        n_valid = enc.mask.sum(1).cpu().numpy()
        for b, j in enumerate(pos):
            out[j] = h[b, : int(n_valid[b])]
    return out  # type: ignore[return-value]


def sample_frames(frames: list[np.ndarray], max_frames: int, seed: int) -> np.ndarray:
    """``[n, D]``: every frame, or ``max_frames`` of them drawn uniformly without replacement."""
    allf = np.concatenate(frames, axis=0)
    if len(allf) <= max_frames:
        return allf
    rng = np.random.default_rng(seed)
    return allf[np.sort(rng.choice(len(allf), size=max_frames, replace=False))]


def fit_codebooks(frames: list[np.ndarray], cfg: PseudoLabelConfig, seed: int) -> list[np.ndarray]:
    """One ``[k, D]`` centroid table per scale in ``cfg.n_clusters`` (MiniBatchKMeans, seeded)."""
    from sklearn.cluster import MiniBatchKMeans
    x = sample_frames(frames, cfg.max_frames, seed)
    too_many = [k for k in cfg.n_clusters if k > len(x)]
    if too_many:
        from after.config import ConfigError
        raise ConfigError(f"pseudo_labels.n_clusters {too_many} exceed the {len(x)} training frames sampled; "
                          "use fewer clusters or more training audio")
    books = []
    for i, k in enumerate(cfg.n_clusters):
        km = MiniBatchKMeans(n_clusters=k, batch_size=cfg.batch_size, max_iter=cfg.max_iter, n_init=cfg.n_init,
                             random_state=seed + i, compute_labels=False)
        km.fit(x)
        log.info("k-means k=%d on %d frames: inertia %.1f", k, len(x), km.inertia_)
        books.append(km.cluster_centers_.astype(np.float32))
    return books


def assign(frames: np.ndarray, centroids: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Nearest centroid of every row of ``frames [n, D]`` -> int64 ``[n]``."""
    c = torch.from_numpy(centroids)
    out = [torch.cdist(torch.from_numpy(frames[i:i + chunk]), c).argmin(1) for i in range(0, len(frames), chunk)]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def frame_ids(frames: list[np.ndarray], books: list[np.ndarray]) -> list[np.ndarray]:
    """Per clip, int64 ``[n_scales, T_i]``: its frames' nearest centroid at every scale."""
    if not frames:
        return []
    lengths = [len(f) for f in frames]
    allf = np.concatenate(frames, axis=0)
    ids = np.stack([assign(allf, b) for b in books])          # [S, sum T_i]
    return np.split(ids, np.cumsum(lengths)[:-1], axis=1)
