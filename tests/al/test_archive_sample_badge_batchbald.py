"""BADGE and BatchBALD at archive scale: above ``sample`` candidates the k-means++ seeding runs on a random
sample plus the largest-gradient-norm row (BADGE) and the greedy on the top-``sample`` BALD candidates
(BatchBALD); at most ``sample`` candidates (or ``sample=0``) both are the exact methods."""
from __future__ import annotations

import numpy as np
import pytest

from after.al.base import PoolView, bald_scores
from after.al.batchbald import BatchBALD, top_bald
from after.al.strategies import BADGE, _Factored, _Incremental, candidate_sample, kmeans_pp


def _badge_pool(n=600, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, 6))
    a = rng.dirichlet(np.ones(3), size=n) - np.eye(3)[rng.integers(0, 3, n)]
    return h, a


@pytest.mark.parametrize("factored", [False, True])
@pytest.mark.parametrize("sample", [0, 600, 5000])
def test_badge_with_the_whole_pool_in_the_sample_is_the_exact_seeding(sample, factored):
    h, a = _badge_pool()
    if factored:
        view, dist = PoolView(penultimate=h, residuals=a), _Factored(h, a)
    else:
        g = (a[:, :, None] * h[:, None, :]).reshape(len(h), -1)
        view, dist = PoolView(grad_embeddings=g), _Incremental(g)
    got = BADGE(sample=sample).select(view, 40, np.random.default_rng(3))
    want, scores = kmeans_pp(dist, 40, np.random.default_rng(3))
    assert got.indices.tolist() == want
    np.testing.assert_allclose(got.scores, scores)


@pytest.mark.parametrize("factored", [False, True])
def test_sampled_badge_picks_only_from_the_sample_and_starts_from_the_largest_norm(factored):
    h, a = _badge_pool(2000, seed=1)
    g = (a[:, :, None] * h[:, None, :]).reshape(len(h), -1)
    view = PoolView(penultimate=h, residuals=a) if factored else PoolView(grad_embeddings=g)
    got = BADGE(sample=300).select(view, 50, np.random.default_rng(4))
    first = int(np.argmax(np.einsum("ij,ij->i", g, g)))
    allowed = set(candidate_sample(2000, 300, np.random.default_rng(4)).tolist()) | {first}
    assert got.indices[0] == first
    assert set(got.indices.tolist()) <= allowed
    assert len(set(got.indices.tolist())) == 50
    # the exact seeding picks outside the sample: the restriction is real
    exact = BADGE(sample=0).select(view, 50, np.random.default_rng(4)).indices
    assert not set(exact.tolist()) <= allowed


def _mc_pool(n=500, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3, 1)) * 2 + rng.normal(size=(n, 3, 12)) * rng.uniform(0, 1.5, (n, 1, 1))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)      # [n, c, T]


@pytest.mark.parametrize("sample", [500, 10_000])
def test_batchbald_with_the_whole_pool_in_the_sample_is_the_exact_greedy(sample):
    mc = _mc_pool()
    got = BatchBALD(sample=sample).select(PoolView(mc_probs=mc), 30, np.random.default_rng(5))
    want = BatchBALD(sample=0).select(PoolView(mc_probs=mc), 30, np.random.default_rng(5))
    assert got.indices.tolist() == want.indices.tolist()
    np.testing.assert_allclose(got.scores, want.scores)


def test_sampled_batchbald_picks_only_among_the_top_bald_candidates():
    mc = _mc_pool(1500, seed=2)
    got = BatchBALD(sample=100).select(PoolView(mc_probs=mc), 40, np.random.default_rng(6))
    b = bald_scores(mc)
    top = np.argsort(-b, kind="stable")[:100]
    assert set(top_bald(mc, 100).tolist()) == set(top.tolist())
    assert set(got.indices.tolist()) <= set(top.tolist())
    assert len(set(got.indices.tolist())) == 40
    # same as running the exact greedy on those rows alone
    rows = np.sort(top)
    alone = BatchBALD(sample=0).select(PoolView(mc_probs=mc[rows]), 40, np.random.default_rng(6))
    assert got.indices.tolist() == rows[alone.indices].tolist()


@pytest.mark.parametrize("cls", [BADGE, BatchBALD])
def test_negative_sample_is_refused(cls):
    with pytest.raises(ValueError, match="sample"):
        cls(sample=-1)
