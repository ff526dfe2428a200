"""Known-answer tests on hand-made distributions: each heuristic picks what the literature says it should."""
from __future__ import annotations

import numpy as np
import pytest
from al_views import softmax

from after.al.strategies import (ALPs, BADGE, BALD, BatchBALD, CoreSet, Entropy, GroupEntropy, IndividualEntropy,
                                 LeastConfidence, Margin, MeanGroupEntropy, MeanIndividualEntropy, PoolView,
                                 ProbabilityVariance, WeightedMix, bald_scores)

RNG = np.random.default_rng

# Each of entropy, least confidence and margin has a different favourite among these rows.
PROBS = np.array([
    [0.50, 0.49, 0.01, 0.00],  # 0: smallest top-2 gap (0.01)
    [0.40, 0.20, 0.20, 0.20],  # 1: highest entropy (1.33 nats)
    [0.36, 0.34, 0.30, 0.00],  # 2: lowest top probability (0.36)
    [0.97, 0.01, 0.01, 0.01],  # 3: confident
])


def test_entropy_picks_the_uniform_row():
    probs = np.vstack([PROBS, np.full(4, 0.25)])
    sel = Entropy().select(PoolView(probs=probs), 1, RNG(0))
    assert sel.indices[0] == 4
    assert sel.scores[0] == pytest.approx(np.log(4))


def test_entropy_least_confidence_margin_disagree_as_designed():
    view = PoolView(probs=PROBS)
    assert Entropy().select(view, 4, RNG(0)).indices.tolist() == [1, 2, 0, 3]
    assert LeastConfidence().select(view, 1, RNG(0)).indices[0] == 2
    assert Margin().select(view, 1, RNG(0)).indices[0] == 0
    assert Margin().select(view, 1, RNG(0)).scores[0] == pytest.approx(0.99)
    assert LeastConfidence().select(view, 4, RNG(0)).indices[-1] == 3


def test_ties_are_broken_by_the_rng_not_by_row_order():
    view = PoolView(probs=np.full((20, 3), 1 / 3))
    firsts = {int(Entropy().select(view, 1, RNG(seed)).indices[0]) for seed in range(10)}
    assert len(firsts) > 1


def _mc(rows: list[list[list[float]]]) -> np.ndarray:
    """rows of T class distributions -> mc_probs [n, c, T]."""
    return np.asarray(rows, dtype=float).transpose(0, 2, 1)


def test_bald_prefers_disagreement_between_mc_samples_over_consistent_uncertainty():
    disagree = [[0.99, 0.01], [0.01, 0.99]] * 4   # each sample sure, samples disagree: epistemic
    consistent = [[0.5, 0.5]] * 8                 # every sample unsure: aleatoric
    view = PoolView(mc_probs=_mc([consistent, disagree]))
    sel = BALD().select(view, 1, RNG(0))
    assert sel.indices[0] == 1
    # and entropy of the mean cannot tell them apart
    mean_entropy = Entropy().scores(PoolView(probs=view.mc_probs.mean(axis=2)))
    assert mean_entropy[0] == pytest.approx(mean_entropy[1])
    assert bald_scores(view.mc_probs)[0] == pytest.approx(0.0, abs=1e-12)


def _duplicates_pool() -> np.ndarray:
    """Three identical copies of the most informative point, plus three points that disagree with it in
    different ways (slightly lower BALD each), T=4 samples, c=2."""
    hi, lo = 0.99, 0.01
    top = [[hi, lo], [hi, lo], [lo, hi], [lo, hi]]
    others = [
        [[0.95, 0.05], [0.05, 0.95], [0.95, 0.05], [0.05, 0.95]],
        [[0.95, 0.05], [0.05, 0.95], [0.05, 0.95], [0.95, 0.05]],
        [[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.1]],
    ]
    return _mc([top, top, top, *others])


def test_batchbald_avoids_duplicates_that_topk_bald_takes():
    view = PoolView(mc_probs=_duplicates_pool())
    bald = BALD().select(view, 3, RNG(0))
    assert sorted(bald.indices.tolist()) == [0, 1, 2]
    batch = BatchBALD().select(view, 3, RNG(0))
    assert len({0, 1, 2} & set(batch.indices.tolist())) == 1
    assert batch.scores[0] == pytest.approx(bald.scores[0], rel=1e-4)  # first pick's gain is its BALD score


def test_batchbald_gains_sum_to_the_exact_joint_mutual_information():
    mc = _duplicates_pool()
    sel = BatchBALD(max_configurations=10**6).select(PoolView(mc_probs=mc), 4, RNG(0))
    # brute force I[y_B; w] = H[y_B] - sum_j E_w H[y_j | w] over all 2^4 configurations
    p = mc[sel.indices].transpose(0, 2, 1)  # [4, T, c]
    joint = np.ones((p.shape[1], 1))
    for j in range(len(p)):
        joint = (joint[:, :, None] * p[j][:, None, :]).reshape(p.shape[1], -1)
    marg = joint.mean(axis=0)
    h_joint = -(marg * np.log(marg)).sum()
    h_cond = -(p * np.log(p)).sum(axis=2).mean(axis=1).sum()
    assert sel.scores.sum() == pytest.approx(h_joint - h_cond, rel=1e-4)


def test_batchbald_sampled_configurations_agree_with_exact():
    rng = RNG(3)
    mc = softmax(rng.normal(size=(40, 3, 1)) * 2 + rng.normal(size=(40, 3, 6)) * 2, axis=1)
    view = PoolView(mc_probs=mc)
    exact = BatchBALD(max_configurations=10**6).select(view, 6, RNG(0))
    sampled = BatchBALD(max_configurations=9, n_samples=20000).select(view, 6, RNG(0))
    assert sampled.indices[:2].tolist() == exact.indices[:2].tolist()  # exact steps are identical
    assert sampled.scores.sum() == pytest.approx(exact.scores.sum(), rel=0.05)


def test_batchbald_lazy_greedy_matches_full_greedy():
    rng = RNG(4)
    view = PoolView(mc_probs=softmax(rng.normal(size=(300, 4, 1)) + rng.normal(size=(300, 4, 10)), axis=1))
    lazy = BatchBALD(lazy_chunk=16).select(view, 8, RNG(0))
    full = BatchBALD(lazy=False).select(view, 8, RNG(0))
    assert lazy.indices.tolist() == full.indices.tolist()


def test_coreset_picks_the_far_point_first():
    emb = np.array([[0.1, 0.0], [0.0, 0.2], [10.0, 10.0], [0.3, 0.1], [5.0, 0.0]])
    view = PoolView(embeddings=emb, labelled_embeddings=np.zeros((2, 2)))
    sel = CoreSet().select(view, 2, RNG(0))
    assert sel.indices.tolist() == [2, 4]
    assert sel.scores[0] == pytest.approx(np.hypot(10, 10))


def test_coreset_without_labelled_set_is_still_k_center():
    emb = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [9.0, 9.0]])
    sel = CoreSet().select(PoolView(embeddings=emb, labelled_embeddings=np.zeros((0, 2))), 2, RNG(0))
    assert sel.indices[0] == 3  # farthest from the pool mean
    assert np.all(np.isfinite(sel.scores))


def test_badge_starts_from_the_largest_gradient_and_skips_duplicates():
    g = np.array([[5.0, 0.0], [5.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    for seed in range(5):
        sel = BADGE().select(PoolView(grad_embeddings=g), 3, RNG(seed))
        assert sel.indices[0] in (0, 1)
        assert not {0, 1} <= set(sel.indices.tolist())  # the copy has zero D^2 weight


def test_alps_takes_one_sample_per_surprisal_cluster():
    rng = RNG(0)
    directions = np.eye(3) * 5
    # surprisal vectors differ in scale inside a blob: ALPs L2-normalises, so only direction matters
    s = np.vstack([d + rng.normal(scale=0.2, size=(10, 3)) for d in directions])
    s *= rng.uniform(0.5, 3.0, size=(30, 1))
    sel = ALPs().select(PoolView(surprisal=np.abs(s)), 3, RNG(1))
    assert sorted(i // 10 for i in sel.indices) == [0, 1, 2]


def test_actor_style_annotator_averages_separate_disagreement_from_uncertainty():
    c = 3
    agree_sure = [[1.0, 0.0, 0.0]] * 3
    disagree_sure = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    agree_unsure = [[1 / 3] * c] * 3
    view = PoolView(annotator_probs=np.array([agree_sure, disagree_sure, agree_unsure]))
    ind = MeanIndividualEntropy().scores(view)
    grp = MeanGroupEntropy().scores(view)
    var = ProbabilityVariance().scores(view)
    assert ind.argmax() == 2 and ind[1] == pytest.approx(0.0)
    assert grp[1] == pytest.approx(np.log(3)) and grp[2] == pytest.approx(np.log(3)) and grp[0] == pytest.approx(0)
    assert var.argmax() == 1 and var[2] == pytest.approx(0.0)
    assert var[1] == pytest.approx(1 - 3 * (1 / 3) ** 2)  # one-hot heads: Gini impurity of the vote share
    mix = WeightedMix(weight=0.5).scores(view)
    assert mix[2] == pytest.approx(1.0) and mix[1] == pytest.approx(0.5) and mix[0] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        WeightedMix(weight=1.5)
