"""Length-bucketed batches bounded by padded audio seconds.

Clips are sorted by length so a batch pads little; a batch closes when ``len(batch) * longest`` would pass
``batch_seconds`` (the compute a padded batch really costs), so long clips get small batches and short
clips large ones.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def length_batches(durations_s: Sequence[float], batch_seconds: float, shuffle: bool = False,
                   rng: np.random.Generator | None = None, max_batch_size: int | None = None) -> list[np.ndarray]:
    """Row-index batches. ``shuffle`` permutes the batch order (and ties within a length) with ``rng``."""
    if batch_seconds <= 0:
        raise ValueError(f"batch_seconds must be > 0, got {batch_seconds}")
    d = np.asarray(durations_s, dtype=np.float64)
    if shuffle:
        if rng is None:
            raise ValueError("shuffle=True needs an rng (np.random.Generator) so batches are reproducible")
        jitter = rng.permutation(len(d))
        order = np.lexsort((jitter, d))
    else:
        order = np.argsort(d, kind="stable")
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = d[i]  # sorted ascending: the new clip is the longest so far
        full = (len(cur) + 1) * longest > batch_seconds or (max_batch_size and len(cur) >= max_batch_size)
        if cur and full:
            batches.append(cur)
            cur = []
        cur.append(int(i))
    if cur:
        batches.append(cur)
    out = [np.asarray(b, dtype=np.int64) for b in batches]
    if shuffle:
        out = [out[j] for j in rng.permutation(len(out))]
    return out
