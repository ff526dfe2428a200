"""Synthetic PoolViews for the active-learning tests."""
from __future__ import annotations

import numpy as np

from after.al.strategies import PoolView


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def full_view(n: int = 30, c: int = 4, t: int = 8, d: int = 5, a: int = 3, m: int = 6, seed: int = 0) -> PoolView:
    """A view carrying every field, with generic (tie-free) random values."""
    rng = np.random.default_rng(seed)
    mc = softmax(rng.normal(size=(n, c, 1)) + rng.normal(size=(n, c, t)), axis=1)
    return PoolView(
        probs=mc.mean(axis=2),
        mc_probs=mc,
        embeddings=rng.normal(size=(n, d)),
        grad_embeddings=rng.normal(size=(n, c * d)),
        labelled_embeddings=rng.normal(size=(m, d)),
        surprisal=np.abs(rng.normal(size=(n, d))),
        annotator_probs=softmax(rng.normal(size=(n, a, c)) * 2, axis=2),
    )
