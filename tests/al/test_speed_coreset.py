"""CoreSet at archive scale: the lazy greedy k-center picks exactly what the full update picks."""
from __future__ import annotations

import numpy as np
import pytest

from after.al.base import PoolView
from after.al.strategies import CoreSet


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("block", [1, 7, 256])
def test_lazy_coreset_picks_what_the_full_update_picks(seed, block):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 6)).astype(np.float32)
    x[300:] = x[:300]                                   # duplicates: ties that the rng breaks
    lab = rng.normal(size=(20, 6)).astype(np.float32) if seed % 2 else np.zeros((0, 6), np.float32)
    view = PoolView(embeddings=x, labelled_embeddings=lab)
    full = CoreSet(lazy=False).select(view, 80, np.random.default_rng(seed))
    lazy = CoreSet(block=block).select(view, 80, np.random.default_rng(seed))
    assert lazy.indices.tolist() == full.indices.tolist()
    np.testing.assert_allclose(lazy.scores, full.scores, rtol=1e-5)


def test_lazy_coreset_with_more_picks_than_its_candidate_block():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    view = PoolView(embeddings=x, labelled_embeddings=x[:2])
    full = CoreSet(lazy=False).select(view, 50, np.random.default_rng(0))
    lazy = CoreSet(block=2).select(view, 50, np.random.default_rng(0))
    assert lazy.indices.tolist() == full.indices.tolist()
    assert sorted(lazy.indices.tolist()) == list(range(50))


def test_coreset_rejects_an_empty_block():
    with pytest.raises(ValueError, match="block"):
        CoreSet(block=0)


def test_blocked_min_squared_distance_is_the_direct_minimum():
    from after.al.strategies import min_squared_distance, squared_distances
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1000, 5)).astype(np.float32)
    c = rng.normal(size=(70, 5)).astype(np.float32)
    want = squared_distances(x.astype(np.float64), c.astype(np.float64)).min(axis=1)
    np.testing.assert_allclose(min_squared_distance(x, c, chunk=16, rows=300), want, rtol=1e-4, atol=1e-4)
    assert np.isinf(min_squared_distance(x, c[:0])).all()
