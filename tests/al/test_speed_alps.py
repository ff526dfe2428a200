"""ALPs at archive scale: the chunked nearest-to-centre step picks what the direct one picks, and the
sampled k-means is the exact ALPs when the sample holds every candidate."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from after.al.base import PoolView, argmax_random_tie, seed_from, top_k_from
from after.al.strategies import ALPs, nearest_to_centres, squared_distances


def _nearest_direct(x, centres, rng=None):
    """The direct computation: the whole [k, n] distance matrix, taken rows masked by a copy of the row."""
    d = np.sqrt(squared_distances(centres, x))
    taken = np.zeros(x.shape[0], dtype=bool)
    idx, dist = [], []
    for c in range(centres.shape[0]):
        row = np.where(taken, np.inf, d[c])
        i = int(np.argmin(row)) if rng is None else argmax_random_tie(-row, rng)
        taken[i] = True
        idx.append(i)
        dist.append(row[i])
    return np.array(idx), np.array(dist)


@pytest.mark.parametrize("use_rng", [False, True])
def test_chunked_nearest_to_centres_picks_what_the_direct_computation_picks(use_rng):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    x[150:] = x[:150]                      # every row twice: ties that the rng breaks
    centres = np.vstack([x[:40], rng.normal(size=(30, 3))])
    got = nearest_to_centres(x, centres, np.random.default_rng(5) if use_rng else None, chunk=16)
    want = _nearest_direct(x, centres, np.random.default_rng(5) if use_rng else None)
    assert got[0].tolist() == want[0].tolist()
    np.testing.assert_allclose(got[1], want[1])
    assert len(set(got[0].tolist())) == 70


def _alps_exact(s, k, rng, n_init=3):
    s = s / np.where((n := np.linalg.norm(s, axis=1, keepdims=True)) > 0, n, 1.0)
    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed_from(rng)).fit(s)
    idx, dist = _nearest_direct(s, km.cluster_centers_, rng)
    return top_k_from(idx, -dist, rng)


@pytest.mark.parametrize("sample", [0, 400, 10_000])
def test_alps_with_the_whole_pool_in_the_sample_is_the_exact_alps(sample):
    rng = np.random.default_rng(1)
    s = -np.log(rng.dirichlet(np.ones(4), size=400))
    got = ALPs(sample=sample).select(PoolView(surprisal=s), 25, np.random.default_rng(7))
    want = _alps_exact(s, 25, np.random.default_rng(7))
    assert got.indices.tolist() == want.indices.tolist()
    np.testing.assert_allclose(got.scores, want.scores)


def test_sampled_alps_picks_k_distinct_rows_near_the_exact_objective():
    rng = np.random.default_rng(2)
    s = -np.log(rng.dirichlet(np.ones(4) * 0.5, size=3000))
    got = ALPs(sample=600, refine=5).select(PoolView(surprisal=s), 30, np.random.default_rng(3))
    assert len(set(got.indices.tolist())) == 30
    # the picks as centres: their k-means cost over all rows is close to the exact picks' cost
    u = s / np.linalg.norm(s, axis=1, keepdims=True)
    cost = lambda idx: squared_distances(u, u[idx]).min(axis=1).sum()   # noqa: E731
    exact = _alps_exact(s, 30, np.random.default_rng(3))
    assert cost(got.indices) < 1.25 * cost(exact.indices)


def test_alps_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_init"):
        ALPs(n_init=0)
