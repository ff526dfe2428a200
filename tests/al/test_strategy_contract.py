"""One contract, every strategy in STRATEGIES."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from al_views import full_view

from after.al.strategies import STRATEGIES, PoolView, Selection, Strategy

NAMES = sorted(STRATEGIES)


def make(name: str) -> Strategy:
    return STRATEGIES[name]()


@pytest.fixture(scope="module")
def view() -> PoolView:
    return full_view()


def test_registry_maps_names_to_strategy_classes():
    assert {"random", "entropy", "least_confidence", "margin", "alps", "bald", "batchbald", "badge",
            "coreset"} <= set(STRATEGIES)
    for cls in STRATEGIES.values():
        assert issubclass(cls, Strategy)
        assert isinstance(cls.requires, frozenset)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [1, 7])
def test_returns_k_unique_valid_indices_and_scores(name, k, view):
    sel = make(name).select(view, k, np.random.default_rng(0))
    assert isinstance(sel, Selection)
    assert sel.indices.shape == (k,) and sel.scores.shape == (k,)
    assert np.issubdtype(sel.indices.dtype, np.integer)
    assert len(set(sel.indices.tolist())) == k
    assert sel.indices.min() >= 0 and sel.indices.max() < view.n
    assert np.all(np.isfinite(sel.scores))


@pytest.mark.parametrize("name", NAMES)
def test_can_take_the_whole_pool(name, view):
    sel = make(name).select(view, view.n, np.random.default_rng(1))
    assert sorted(sel.indices.tolist()) == list(range(view.n))


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_seed(name, view):
    a = make(name).select(view, 5, np.random.default_rng(42))
    b = make(name).select(view, 5, np.random.default_rng(42))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [0, -1, 31, 1000])
def test_refuses_k_out_of_range(name, k, view):
    with pytest.raises(ValueError, match="k must be between 1 and"):
        make(name).select(view, k, np.random.default_rng(0))


@pytest.mark.parametrize("name", NAMES)
def test_refuses_non_integer_k_and_non_generator_rng(name, view):
    with pytest.raises(ValueError):
        make(name).select(view, 2.5, np.random.default_rng(0))
    with pytest.raises(TypeError):
        make(name).select(view, 2, 0)


@pytest.mark.parametrize("name", [n for n in NAMES if STRATEGIES[n].requires])
def test_refuses_a_view_missing_what_it_requires(name, view):
    for field in STRATEGIES[name].requires:
        partial = dataclasses.replace(view, **{field: None})
        with pytest.raises(ValueError, match=field):
            make(name).select(partial, 3, np.random.default_rng(0))


def test_random_needs_only_the_pool_size():
    sel = STRATEGIES["random"]().select(PoolView(n_candidates=10), 4, np.random.default_rng(0))
    assert len(set(sel.indices.tolist())) == 4


@pytest.mark.parametrize("bad", [
    dict(probs=np.array([[0.5, 0.6]])),                       # does not sum to one
    dict(probs=np.array([[np.nan, 1.0]])),                    # not finite
    dict(probs=np.array([0.5, 0.5])),                         # wrong ndim
    dict(probs=np.array([[2.0, -1.0]])),                      # negative
    dict(probs=np.full((2, 2), 0.5), embeddings=np.zeros((3, 4))),           # row counts disagree
    dict(embeddings=np.zeros((3, 4)), labelled_embeddings=np.zeros((2, 5))),  # dims disagree
    dict(mc_probs=np.full((2, 2, 3), 0.4)),                   # MC samples do not sum to one
    dict(annotator_probs=np.full((2, 3, 2), 0.7)),
])
def test_view_refuses_inconsistent_arrays(bad):
    with pytest.raises(ValueError):
        PoolView(**bad)
