"""Initial-set selection: shared contract plus known answers on well-separated blobs."""
from __future__ import annotations

import numpy as np
import pytest

from after.al.coldstart import (BMAL, COLD_STARTS, DACS, DACSKCenter, KernelHerding, KMeansColdStart, elbow_k,
                                knn_density)

RNG = np.random.default_rng
CENTRES = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])


def blobs(per_blob: int = 15, seed: int = 0, centres: np.ndarray = CENTRES) -> tuple[np.ndarray, np.ndarray]:
    rng = RNG(seed)
    x = np.vstack([c + rng.normal(scale=0.5, size=(per_blob, centres.shape[1])) for c in centres])
    return x, np.repeat(np.arange(len(centres)), per_blob)


@pytest.fixture(scope="module")
def data():
    return blobs()


def test_registry():
    assert set(COLD_STARTS) == {"kmeans", "kmeans_per_clip", "random", "dacs", "bmal", "dacs_kcenter",
                                "kernel_herding"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_per_clip_spreads_the_budget_over_blobs(seed):
    x, blob = blobs(seed=seed)
    idx = COLD_STARTS["kmeans_per_clip"]().select(x, 4, np.random.default_rng(seed))
    # 4 clusters over 4 well-separated blobs: one pick per blob, each nearest its blob's mean
    assert sorted(blob[idx].tolist()) == [0, 1, 2, 3]
    for i in idx:
        members = np.flatnonzero(blob == blob[i])
        centre = x[members].mean(0)
        assert i == members[np.argmin(((x[members] - centre) ** 2).sum(1))]


@pytest.mark.parametrize("name", sorted(COLD_STARTS))
def test_contract(name, data):
    x, _ = data
    idx = COLD_STARTS[name]().select(x, 6, RNG(0))
    assert idx.shape == (6,) and len(set(idx.tolist())) == 6
    assert idx.min() >= 0 and idx.max() < len(x)
    np.testing.assert_array_equal(idx, COLD_STARTS[name]().select(x, 6, RNG(0)))
    assert sorted(COLD_STARTS[name]().select(x, len(x), RNG(1)).tolist()) == list(range(len(x)))


@pytest.mark.parametrize("name", sorted(COLD_STARTS))
def test_refuses_bad_input(name, data):
    x, _ = data
    for n_select in (0, len(x) + 1, 2.5):
        with pytest.raises(ValueError, match="n_select"):
            COLD_STARTS[name]().select(x, n_select, RNG(0))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        COLD_STARTS[name]().select(bad, 2, RNG(0))
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        COLD_STARTS[name]().select(x[:, 0], 2, RNG(0))


def test_elbow_finds_the_knee():
    ks = np.arange(1, 11)
    inertia = np.array([1000, 500, 100, 90, 85, 80, 76, 73, 70, 68], dtype=float)
    assert elbow_k(inertia, ks) == 3
    assert elbow_k(np.array([5.0, 1.0]), np.array([1, 2])) == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_picks_one_per_well_separated_blob(seed):
    x, blob = blobs(seed=seed)
    method = KMeansColdStart(max_clusters=10)
    idx = method.select(x, 4, RNG(seed))
    assert method.chosen_k == 4
    assert sorted(blob[idx].tolist()) == [0, 1, 2, 3]
    # each pick is the blob member nearest its blob's mean
    for i in idx:
        members = np.flatnonzero(blob == blob[i])
        centre = x[members].mean(axis=0)
        assert i == members[np.argmin(np.linalg.norm(x[members] - centre, axis=1))]


def test_kmeans_round_robin_fills_a_larger_budget_evenly():
    x, blob = blobs()
    idx = KMeansColdStart(max_clusters=10).select(x, 9, RNG(0))
    counts = np.bincount(blob[idx], minlength=4)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 9


def test_kmeans_caps_clusters_at_the_budget():
    x, blob = blobs()
    method = KMeansColdStart(max_clusters=10)
    idx = method.select(x, 2, RNG(0))
    assert method.chosen_k == 2 and len(set(blob[idx].tolist())) == 2


def dense_and_sparse(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """40 points in a tight blob and 20 scattered far away; returns (x, is_dense)."""
    rng = RNG(seed)
    x = np.vstack([rng.normal(scale=0.3, size=(40, 2)), rng.uniform(-30, 30, size=(20, 2)) + 40])
    return x, np.arange(60) < 40


def test_knn_density_is_higher_in_the_blob():
    x, is_dense = dense_and_sparse()
    d = knn_density(x, 5)
    assert d[is_dense].min() > d[~is_dense].max()


def test_dacs_prefers_dense_regions_by_default_and_sparse_on_request():
    x, is_dense = dense_and_sparse()
    dense_pick = DACSKCenter(n_groups=2, decay=0.25).select(x, 10, RNG(0))
    sparse_pick = DACSKCenter(n_groups=2, decay=0.25, prefer="sparse").select(x, 10, RNG(0))
    assert is_dense[dense_pick].sum() >= 7
    assert is_dense[sparse_pick].sum() <= 3
    # diversity inside the dense group: no two picks are nearest neighbours of each other
    pts = x[dense_pick[is_dense[dense_pick]]]
    assert np.min(np.linalg.norm(pts[:, None] - pts[None], axis=2) + np.eye(len(pts)) * 1e9) > 0.05
    with pytest.raises(ValueError):
        DACSKCenter(prefer="middle")


def test_bmal_picks_representative_then_diverse():
    x, blob = blobs(centres=CENTRES[:2])
    idx = KernelHerding().select(x, 2, RNG(0))
    assert sorted(blob[idx].tolist()) == [0, 1]
    # the first pick is central in its blob, not an outlier
    members = np.flatnonzero(blob == blob[idx[0]])
    dist = np.linalg.norm(x[members] - x[members].mean(axis=0), axis=1)
    assert np.linalg.norm(x[idx[0]] - x[members].mean(axis=0)) <= np.quantile(dist, 0.5)


def test_dacs_is_the_papers_mean_squared_knn_distance_highest_first():
    """AFTER Eq. 10: density = mean squared distance to the k nearest neighbours, the highest chosen.
    A tight blob of 30 and 3 far-apart outliers: the paper's DACS takes the outliers (sparse regions);
    the density-aware k-center (the old ``dacs``) takes dense clips first."""
    rng = np.random.default_rng(0)
    blob = rng.normal(scale=0.1, size=(30, 2))
    outliers = np.array([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    x = np.vstack([blob, outliers])
    assert set(DACS(n_neighbors=3).select(x, 3, RNG(0)).tolist()) == {30, 31, 32}
    assert not {30, 31, 32} & set(DACSKCenter(n_groups=2, decay=0.25).select(x, 3, RNG(0)).tolist()[:1])


def test_bmal_is_the_papers_neighbour_kl_divergence():
    """AFTER Eq. 11: the clips whose (soft-cluster) class distribution diverges most from their
    neighbours' are the ones on a boundary between two clusters, not the cluster cores."""
    from after.al.coldstart import neighbour_divergence
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0]])
    x = np.array([[0.0], [0.1], [1.0], [1.9], [2.0]])
    div = neighbour_divergence(probs, x, n_neighbors=2)
    assert div[0] == pytest.approx(div[4])
    a, b = np.array([0.0, 0.0]), np.array([4.0, 0.0])
    line = np.array([a + t * (b - a) for t in np.linspace(0, 1, 41)])
    pts = np.vstack([rng_blob(a), rng_blob(b), line])
    pick = BMAL(n_neighbors=5, n_classes=2).select(pts, 3, RNG(0))
    assert all(1.0 < pts[i, 0] < 3.0 for i in pick)   # the boundary between the two clusters


def rng_blob(centre, n=40):
    return centre + np.random.default_rng(1).normal(scale=0.2, size=(n, 2))


def test_nearest_to_centres_breaks_ties_with_the_generator():
    from after.al.strategies import nearest_to_centres
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])   # rows 0-2 equally near the centre
    picks = {int(nearest_to_centres(x, np.zeros((1, 2)), RNG(s))[0][0]) for s in range(20)}
    assert picks == {0, 1, 2}


def test_kmeans_cold_start_is_computed_once_per_features_and_seed(monkeypatch):
    """A grid's cells that share a fold and seed ask for the same cold start: the second gets the first's
    picks without running k-means, and its generator ends where the computation would have left it."""
    KMeansColdStart._memo.clear()
    x = RNG(5).normal(size=(120, 6))
    first_rng = RNG(3)
    first = KMeansColdStart(max_clusters=6).select(x, 10, first_rng)
    after_first = first_rng.random()
    fits = []
    monkeypatch.setattr(KMeansColdStart, "_fit", lambda self, *a: fits.append(1) or pytest.fail("k-means ran"))
    again_rng = RNG(3)
    again = KMeansColdStart(max_clusters=6)
    assert again.select(x, 10, again_rng).tolist() == first.tolist() and again.chosen_k is not None
    assert again_rng.random() == after_first and not fits
    # another seed, budget, parameter or feature value is computed afresh
    for call in (lambda: KMeansColdStart(max_clusters=6).select(x, 10, RNG(4)),
                 lambda: KMeansColdStart(max_clusters=6).select(x, 11, RNG(3)),
                 lambda: KMeansColdStart(max_clusters=5).select(x, 10, RNG(3)),
                 lambda: KMeansColdStart(max_clusters=6).select(x + 1e-9, 10, RNG(3))):
        with pytest.raises(pytest.fail.Exception, match="k-means ran"):
            call()
