"""BatchBALD's batch information: with T MC samples I[y_B; w] <= log T, the estimators of it, the merging
of configurations whose posteriors agree, and the warning once a batch saturates the bound."""
from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
from al_views import softmax

from after.al.base import PoolView
from after.al.batchbald import BatchBALD, batch_information, joint_mutual_information


def _brute_force_information(mc: np.ndarray, picks) -> float:
    """I[y_B; w] = H[y_B] - sum_j E_w H[y_j | w] by enumerating every configuration."""
    p = mc[list(picks)]   # [b, c, T]
    b, c, t = p.shape
    h_joint = 0.0
    for ys in itertools.product(range(c), repeat=b):
        py = np.prod([p[j, y] for j, y in enumerate(ys)], axis=0).mean()   # mean over w_t
        h_joint -= py * np.log(py)
    h_cond = -(p * np.log(p)).sum(axis=1).mean(axis=1).sum()
    return h_joint - h_cond


def _random_mc(n=40, c=3, t=5, scale=2.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return softmax(rng.normal(size=(n, c, 1)) + scale * rng.normal(size=(n, c, t)), axis=1)


def _collapsing_mc(n=60, c=4, t=3, seed=0) -> np.ndarray:
    """Every MC sample is confident, on a class of its own: a few labels identify the sample."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c, t))
    for i in range(n):
        logits[i, rng.permutation(c)[:t], np.arange(t)] += 6.0
    return softmax(logits, axis=1)


def test_joint_mutual_information_matches_enumeration():
    mc = _random_mc()
    for picks in ([0], [3, 7], [1, 2, 5, 9]):
        exact = _brute_force_information(mc, picks)
        est = joint_mutual_information(mc, np.array(picks), n_configurations=200_000, rng=np.random.default_rng(1))
        assert est == pytest.approx(exact, abs=0.01)
        assert est <= np.log(mc.shape[2]) + 1e-12


def test_batch_information_from_the_greedy_table_matches_enumeration():
    mc = _random_mc()
    p = mc[[1, 2, 5]].transpose(0, 2, 1)   # [b, T, c]
    cols = np.ones((p.shape[1], 1))
    for j in range(len(p)):
        cols = (cols[:, :, None] * p[j][:, None, :]).reshape(p.shape[1], -1)
    assert batch_information(cols, sampled=False) == pytest.approx(_brute_force_information(mc, [1, 2, 5]),
                                                                   rel=1e-9)
    # the sampled form: configurations drawn from p(y_B), columns normalised to mean 1
    rng = np.random.default_rng(0)
    weights = cols.mean(axis=0)
    drawn = cols[:, rng.choice(cols.shape[1], size=100_000, p=weights / weights.sum())]
    drawn /= drawn.mean(axis=0, keepdims=True)
    assert batch_information(drawn, sampled=True) == pytest.approx(_brute_force_information(mc, [1, 2, 5]), abs=0.01)
    # merged columns with their counts give the same value as the columns one by one
    uniq, inverse = np.unique(drawn, axis=1, return_inverse=True)
    counts = np.bincount(inverse.ravel(), minlength=uniq.shape[1])
    assert batch_information(uniq, True, counts) == pytest.approx(batch_information(drawn, True), rel=1e-9)


def test_greedy_batch_saturates_at_log_t_and_later_picks_add_nothing():
    mc = _collapsing_mc()
    sel = BatchBALD(max_configurations=64, n_samples=512).select(PoolView(mc_probs=mc), 20, np.random.default_rng(0))
    ceiling = np.log(mc.shape[2])
    info = [joint_mutual_information(mc, sel.indices[:j], 50_000) for j in (2, 5, 20)]
    assert info[-1] == pytest.approx(ceiling, abs=0.01)
    assert info[1] == pytest.approx(ceiling, abs=0.02)   # five picks already pin the sample down
    assert info[-1] - info[1] < 0.02                     # fifteen more add (almost) nothing
    # the greedy's own sum of estimated gains is not a measure of the batch: it can exceed the bound
    assert all(v <= ceiling + 1e-9 for v in info)


def test_merging_configurations_keeps_the_picks_and_evaluates_fewer_columns(monkeypatch):
    mc = _collapsing_mc(n=80)
    seen = []
    original = BatchBALD._conditional_entropies

    def spy(self, p, cols, sampled, weights=None):
        seen.append(cols.shape[1])
        return original(self, p, cols, sampled, weights)

    monkeypatch.setattr(BatchBALD, "_conditional_entropies", spy)
    view = PoolView(mc_probs=mc)
    kw = dict(max_configurations=64, n_samples=512, lazy=False)
    merged = BatchBALD(merge_tol=1e-4, **kw).select(view, 12, np.random.default_rng(0))
    widths_merged, seen[:] = list(seen), []
    plain = BatchBALD(merge_tol=0.0, **kw).select(view, 12, np.random.default_rng(0))
    assert merged.indices.tolist() == plain.indices.tolist()
    np.testing.assert_allclose(merged.scores, plain.scores, atol=1e-5)
    # once the posterior over the 3 samples has collapsed, 512 configurations are evaluated as <= 3 columns;
    # merging only bit-identical columns (merge_tol=0) keeps every configuration that has diverged
    assert max(widths_merged[4:]) <= mc.shape[2] < seen[-1]


def test_bit_identical_merging_changes_nothing():
    mc = _random_mc(n=60, c=4, t=8, scale=1.0, seed=2)
    view = PoolView(mc_probs=mc)
    kw = dict(max_configurations=16, n_samples=256)
    a = BatchBALD(merge_tol=0.0, **kw).select(view, 10, np.random.default_rng(5))
    b = BatchBALD(merge_tol=1e-12, **kw).select(view, 10, np.random.default_rng(5))
    assert a.indices.tolist() == b.indices.tolist()
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)   # float32 sums in another order


def test_warns_once_the_batch_saturates_and_not_before(caplog):
    view = PoolView(mc_probs=_collapsing_mc())
    with caplog.at_level(logging.WARNING, logger="after.al.batchbald"):
        BatchBALD(max_configurations=64, n_samples=512).select(view, 20, np.random.default_rng(0))
    msgs = [r.getMessage() for r in caplog.records if "sampling noise" in r.getMessage()]
    assert len(msgs) == 1 and "of 20 picks" in msgs[0] and "mc_samples" in msgs[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="after.al.batchbald"):   # two picks cannot pin down 20 samples
        BatchBALD().select(PoolView(mc_probs=_random_mc(t=20, scale=1.0)), 2, np.random.default_rng(0))
    assert not [r for r in caplog.records if "sampling noise" in r.getMessage()]


def test_merge_tol_is_validated():
    with pytest.raises(ValueError, match="merge_tol"):
        BatchBALD(merge_tol=-1)
