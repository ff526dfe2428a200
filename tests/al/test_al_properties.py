"""Hypothesis properties: the pool partitions the ids; every selection is a deterministic function of the seed."""
from __future__ import annotations

import numpy as np
from al_views import full_view
from hypothesis import given, settings
from hypothesis import strategies as st

from after.al.coldstart import COLD_STARTS
from after.al.pool import LabelPool
from after.al.oracles import SimulatedOracle
from after.al.strategies import STRATEGIES

FAST = settings(max_examples=25, deadline=None)


@FAST
@given(n=st.integers(1, 40), batches=st.lists(st.integers(0, 10), max_size=8), seed=st.integers(0, 2**32 - 1))
def test_labelled_and_unlabelled_always_partition_the_pool(n, batches, seed):
    ids = [f"u{i}" for i in range(n)]
    oracle = SimulatedOracle({i: "neu" for i in ids})
    pool = LabelPool(ids, oracle)
    rng = np.random.default_rng(seed)
    for rnd, size in enumerate(batches):
        free = pool.unlabelled_ids()
        take = list(rng.choice(free, size=min(size, len(free)), replace=False)) if free else []
        pool.label(take, round=rnd)
        lab, unl = pool.labelled_ids(), pool.unlabelled_ids()
        assert set(lab).isdisjoint(unl)
        assert sorted(lab + unl) == sorted(ids)
        assert len(lab) == oracle.n_queried  # every labelled id was asked exactly once


@FAST
@given(name=st.sampled_from(sorted(STRATEGIES)), n=st.integers(2, 25), data_seed=st.integers(0, 1000),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_strategy_selection_is_a_function_of_the_seed(name, n, data_seed, seed, data):
    view = full_view(n=n, seed=data_seed)
    k = data.draw(st.integers(1, n))
    a = STRATEGIES[name]().select(view, k, np.random.default_rng(seed))
    b = STRATEGIES[name]().select(view, k, np.random.default_rng(seed))
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(set(a.indices.tolist())) == k


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(sorted(COLD_STARTS)), n=st.integers(3, 30), data_seed=st.integers(0, 1000),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_cold_start_selection_is_a_function_of_the_seed(name, n, data_seed, seed, data):
    x = np.random.default_rng(data_seed).normal(size=(n, 3))
    k = data.draw(st.integers(1, n))
    a = COLD_STARTS[name]().select(x, k, np.random.default_rng(seed))
    b = COLD_STARTS[name]().select(x, k, np.random.default_rng(seed))
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == k
