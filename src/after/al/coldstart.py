"""Initial-set selection (cold start): choose the first clips to label from features alone, no labels.

Every method is a small class with ``select(features [n, d], n_select, rng) -> indices [n_select]``
(unique row positions, in selection order). Registry: :data:`COLD_STARTS`.
"""
from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections import OrderedDict

import numpy as np
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from after.al.strategies import argmax_random_tie, seed_from, squared_distances

log = logging.getLogger(__name__)


class ColdStart(ABC):
    """Template: validate features and budget, then call the one hook :meth:`_select`."""

    def select(self, features: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng)}")
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"features must be a non-empty [n, d] array, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or infinite values")
        if isinstance(n_select, bool) or not isinstance(n_select, (int, np.integer)) \
                or not 1 <= n_select <= x.shape[0]:
            raise ValueError(f"n_select must be an integer between 1 and the number of clips ({x.shape[0]}), "
                             f"got {n_select!r}")
        idx = np.asarray(self._select(x, int(n_select), rng), dtype=np.int64)
        if idx.shape != (n_select,) or np.unique(idx).size != n_select:
            raise RuntimeError(f"{type(self).__name__} returned invalid indices")  # a bug, not user input
        return idx

    @abstractmethod
    def _select(self, x: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        """Return n_select unique row indices."""


class RandomColdStart(ColdStart):
    """Uniformly random clips."""

    def _select(self, x: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(x.shape[0])[:n_select]


def elbow_k(inertias: np.ndarray, ks: np.ndarray) -> int:
    """The k of the inertia curve farthest from the chord joining its first and last points.

    Both axes are scaled to [0, 1] first so the answer does not depend on the units of the features.
    """
    if len(ks) < 3:
        return int(ks[-1])
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    span = inertias[0] - inertias[-1]
    y = (inertias - inertias[-1]) / span if span > 0 else np.zeros_like(inertias)
    # chord from (0, y0=1) to (1, 0): distance of each point is |x + y - 1| / sqrt(2)
    dist = np.abs(x + y - 1.0) / np.sqrt(2.0)
    return int(ks[int(np.argmax(dist))])


class KMeansColdStart(ColdStart):
    """AFTER's initialisation: k-means on encoder embeddings, k by the elbow method, nearest-to-centre picks.

    1. Inertia of k-means for k = 1 .. min(max_clusters, n - 1) (on a random subsample of at most
       ``elbow_sample`` rows, for speed); k* = the elbow (:func:`elbow_k`), then capped at ``n_select``
       so every cluster can be represented.
    2. k-means with k* clusters on all rows; within each cluster, rows ordered by distance to its centre.
    3. Round-robin over clusters (larger clusters first within a round): the nearest remaining row of each
       cluster, then the second nearest, ... until ``n_select`` rows are chosen.
    """

    # the last few results in this process, keyed by everything they depend on: cells of one grid that share
    # a fold and seed (methods and label ratios differ) ask for the same cold start, 10-20 s of k-means each
    _memo: "OrderedDict[str, tuple[np.ndarray, int, dict]]" = OrderedDict()
    MEMO_SIZE = 16

    def __init__(self, max_clusters: int = 20, elbow_sample: int = 5000, n_init: int = 3):
        self.max_clusters = max_clusters
        self.elbow_sample = elbow_sample
        self.n_init = n_init
        self.chosen_k: int | None = None

    def _fit(self, x: np.ndarray, k: int, rng: np.random.Generator) -> KMeans:
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=seed_from(rng)).fit(x)

    def _select(self, x: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        """Computed once per (features, budget, parameters, generator state) in a process; a repeat returns
        the same picks and leaves ``rng`` where the computation would have left it."""
        key = hashlib.blake2b(json.dumps([self.max_clusters, self.elbow_sample, self.n_init, n_select, x.shape,
                                          rng.bit_generator.state], sort_keys=True, default=str).encode()
                              + np.ascontiguousarray(x).tobytes(), digest_size=20).hexdigest()
        if key in self._memo:
            picks, self.chosen_k, state = self._memo[key]
            rng.bit_generator.state = state
            log.info("k-means cold start: elbow at k=%d, budget %d (same features and seed as before: reused)",
                     self.chosen_k, n_select)
            return picks.copy()
        picks = self._compute(x, n_select, rng)
        self._memo[key] = (picks.copy(), self.chosen_k, rng.bit_generator.state)
        while len(self._memo) > self.MEMO_SIZE:
            self._memo.popitem(last=False)
        return picks

    def _compute(self, x: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        n = x.shape[0]
        k_hi = max(1, min(self.max_clusters, n - 1))
        sub = x if n <= self.elbow_sample else x[rng.choice(n, self.elbow_sample, replace=False)]
        ks = np.arange(1, k_hi + 1)
        inertias = np.array([self._fit(sub, int(k), rng).inertia_ for k in ks])
        k = min(elbow_k(inertias, ks), n_select)
        self.chosen_k = k
        log.info("k-means cold start: elbow at k=%d of 1..%d, budget %d", k, k_hi, n_select)
        km = self._fit(x, k, rng)
        dist = np.sqrt(squared_distances(x, km.cluster_centers_))[np.arange(n), km.labels_]
        members = [np.flatnonzero(km.labels_ == c) for c in range(k)]
        members = [m[np.lexsort((rng.random(m.size), dist[m]))] for m in members]
        order = sorted(range(k), key=lambda c: -members[c].size)
        picks: list[int] = []
        depth = 0
        while len(picks) < n_select:
            for c in order:
                if depth < members[c].size and len(picks) < n_select:
                    picks.append(int(members[c][depth]))
            depth += 1
        return np.array(picks)


class KMeansPerClipColdStart(ColdStart):
    """k-means with as many clusters as clips to label, and the clip nearest each centre.

    A variant of AFTER's initialisation (one representative per cluster instead of the elbow's few
    clusters sampled round-robin). On the shared merged pool the elbow picks k=3 on CNN features, and
    several clips near the same centre are near-duplicates; one per cluster spreads the budget.
    """

    def __init__(self, n_init: int = 1):
        self.n_init = n_init

    def _select(self, x: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        km = KMeans(n_clusters=n_select, n_init=self.n_init, random_state=seed_from(rng)).fit(x)
        d = squared_distances(x, km.cluster_centers_)           # [n, k]
        picks: list[int] = []
        taken = np.zeros(x.shape[0], dtype=bool)
        for c in np.argsort(-np.bincount(km.labels_, minlength=n_select), kind="stable"):
            order = np.argsort(d[:, c], kind="stable")
            first = order[~taken[order]][0]                      # an empty cluster still yields a clip
            taken[first] = True
            picks.append(int(first))
        return np.array(picks)


def knn_density(x: np.ndarray, n_neighbors: int = 10) -> np.ndarray:
    """[n] local density: 1 / (mean distance to the n_neighbors nearest other rows + tiny)."""
    k = min(n_neighbors, x.shape[0] - 1)
    if k < 1:
        return np.ones(x.shape[0])
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return 1.0 / (dist[:, 1:].mean(axis=1) + 1e-12)


def knn_mean_squared_distance(x: np.ndarray, n_neighbors: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """([n] mean squared distance to the ``n_neighbors`` nearest other rows, [n, k] their indices)."""
    k = min(n_neighbors, x.shape[0] - 1)
    if k < 1:
        return np.zeros(x.shape[0]), np.zeros((x.shape[0], 0), dtype=np.int64)
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return (dist[:, 1:] ** 2).mean(axis=1), idx[:, 1:]


class DACS(ColdStart):
    """DACS as the AFTER paper defines it (Eq. 10, section 5.1): the clips with the highest score

        Density(x_i) = 1/k sum_{j in N(x_i, k)} ||x_i - x_j||^2

    (mean squared distance to the ``n_neighbors`` nearest neighbours; high = sparse region), top
    ``n_select``, ties broken by ``rng``. Kim & Shin's full density-aware k-center is :class:`DACSKCenter`.
    """

    def __init__(self, n_neighbors: int = 10):
        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}")
        self.n_neighbors = n_neighbors

    def _select(self, x: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        score, _ = knn_mean_squared_distance(x, self.n_neighbors)
        return np.lexsort((rng.random(x.shape[0]), -score))[:n_select]


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p_i || q_i) per row, with probabilities floored at 1e-12."""
    p, q = np.maximum(p, 1e-12), np.maximum(q, 1e-12)
    return (p * np.log(p / q)).sum(axis=-1)


class BMAL(ColdStart):
    """BMAL as the AFTER paper defines it (Eq. 11, section 5.1): the clips whose class distribution diverges
    most from their neighbours', score(x_i) = 1/k sum_{j in N(x_i, k)} KL(P(.|x_i) || P(.|x_j)), top
    ``n_select``.

    A cold start has no classifier yet, so the class distribution is a label-free stand-in: the soft
    assignment of each clip to ``n_classes`` k-means clusters, softmax(-||x - c||^2 / s^2) with s^2 the
    median squared distance to the nearest centre. Inside the loop, with a trained classifier, the same
    score on its probabilities is :func:`neighbour_divergence`. Kernel herding (the previous ``bmal``) is
    :class:`KernelHerding`.
    """

    def __init__(self, n_neighbors: int = 10, n_classes: int = 4, n_init: int = 3):
        self.n_neighbors, self.n_classes, self.n_init = n_neighbors, n_classes, n_init

    def _select(self, x: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        k = max(1, min(self.n_classes, x.shape[0]))
        km = KMeans(n_clusters=k, n_init=self.n_init, random_state=seed_from(rng)).fit(x)
        d2 = squared_distances(x, km.cluster_centers_)
        scale = np.median(d2.min(axis=1))
        z = -d2 / (scale if scale > 0 else 1.0)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        score = neighbour_divergence(p, x, self.n_neighbors)
        return np.lexsort((rng.random(x.shape[0]), -score))[:n_select]


def neighbour_divergence(probs: np.ndarray, x: np.ndarray, n_neighbors: int = 10) -> np.ndarray:
    """[n] Eq. 11: mean KL divergence between each row's class distribution and its neighbours' in ``x``."""
    _, nn = knn_mean_squared_distance(x, n_neighbors)
    if nn.shape[1] == 0:
        return np.zeros(x.shape[0])
    return _kl_rows(probs[:, None, :], probs[nn]).mean(axis=1)


class DACSKCenter(ColdStart):
    """Density-aware core-set (after Kim & Shin, KDD 2022, "In Defense of Core-set").

    Kim & Shin estimate each sample's density from its nearest neighbours, split the pool into density
    groups, and run k-center greedy within each group with a budget that favours one end of the density
    scale (they favour sparse regions, during active learning with a trained model). For a cold start,
    with no model yet, this default favours dense regions (typical clips) instead; ``prefer="sparse"``
    gives the paper's direction. Exactly:

    1. density = 1 / mean distance to the ``n_neighbors`` nearest neighbours (:func:`knn_density`);
    2. ``n_groups`` equal-size groups by density rank; the preferred end gets weight 1, the next
       ``decay``, then ``decay**2`` ...; group budget proportional to weight * group size (largest remainder,
       capped by group size, overflow passed on to the next group);
    3. groups in order of preference; in each, k-center greedy (farthest from everything already chosen,
       in any group, which keeps the whole set diverse), starting from the group's most preferred-density
       row when nothing is chosen yet.
    """

    def __init__(self, n_neighbors: int = 10, n_groups: int = 3, decay: float = 0.5, prefer: str = "dense"):
        if prefer not in ("dense", "sparse"):
            raise ValueError(f"prefer must be 'dense' or 'sparse', got {prefer!r}")
        if n_groups < 1 or not 0 < decay <= 1:
            raise ValueError("n_groups must be >= 1 and decay in (0, 1]")
        self.n_neighbors, self.n_groups, self.decay, self.prefer = n_neighbors, n_groups, decay, prefer

    def _budgets(self, sizes: np.ndarray, n_select: int) -> np.ndarray:
        w = self.decay ** np.arange(len(sizes)) * sizes
        raw = n_select * w / w.sum()
        b = np.minimum(np.floor(raw).astype(int), sizes)
        for g in np.argsort(-(raw - np.floor(raw)), kind="stable"):
            if b.sum() >= n_select:
                break
            if b[g] < sizes[g]:
                b[g] += 1
        for g in range(len(sizes)):  # overflow from full groups goes to the next preferred group
            take = min(sizes[g] - b[g], n_select - b.sum())
            b[g] += max(take, 0)
        return b

    def _select(self, x: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        dens = knn_density(x, self.n_neighbors)
        pref = dens if self.prefer == "dense" else -dens
        ranked = np.lexsort((rng.random(x.shape[0]), -pref))
        groups = [g for g in np.array_split(ranked, min(self.n_groups, x.shape[0])) if g.size]
        budgets = self._budgets(np.array([g.size for g in groups]), n_select)
        chosen: list[int] = []
        min_d = np.full(x.shape[0], np.inf)
        for g, b in zip(groups, budgets):
            local = min_d[g].copy()
            for _ in range(b):
                j = 0 if np.isinf(local).all() else argmax_random_tie(np.where(np.isinf(local), -np.inf, local), rng)
                i = int(g[j])
                chosen.append(i)
                d = squared_distances(x, x[i:i + 1])[:, 0]
                min_d = np.minimum(min_d, d)
                local = np.minimum(local, d[g])
                local[np.isin(g, chosen)] = -np.inf
        return np.array(chosen)


class KernelHerding(ColdStart):
    """Batch-mode representative selection by greedy MMD minimisation (kernel herding).

    Batch-mode AL for cold start must pick a batch that is representative of the pool and not redundant.
    Following the representativeness term of Wang & Ye (2015, "Querying discriminative and representative
    samples for batch mode active learning"), the batch S should minimise the maximum mean discrepancy to
    the pool under an RBF kernel K. Greedily (kernel herding, Chen et al. 2010), the next pick maximises

        score(i) = mean_j K(i, j)  -  1 / (|S| + 1) * sum_{s in S} K(i, s)

    i.e. representativeness (first term: dense, central clips) weighted against similarity to the clips
    already chosen (diversity). K(i, j) = exp(-|x_i - x_j|^2 / s^2), with s^2 the median squared distance to
    the ``n_neighbors``-th nearest neighbour among up to 1,000 random rows: a local scale, because the usual
    median-of-all-pairs bandwidth spans the gaps between clusters and then favours clips *between* them.
    The representativeness term uses at most ``max_reference`` random reference rows (memory on big pools).
    """

    def __init__(self, n_neighbors: int = 10, max_reference: int = 5000):
        self.n_neighbors = n_neighbors
        self.max_reference = max_reference

    def _select(self, x: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
        n = x.shape[0]
        probe = x[rng.choice(n, min(n, 1000), replace=False)]
        d2 = np.sort(squared_distances(probe, probe), axis=1)
        med = np.median(d2[:, min(self.n_neighbors, probe.shape[0] - 1)])
        gamma = 1.0 / (med if med > 0 else 1.0)
        ref = x if n <= self.max_reference else x[rng.choice(n, self.max_reference, replace=False)]
        rep = np.zeros(n)
        for start in range(0, n, 1024):
            rep[start:start + 1024] = np.exp(-gamma * squared_distances(x[start:start + 1024], ref)).mean(axis=1)
        sim_sum = np.zeros(n)
        chosen: list[int] = []
        for t in range(n_select):
            score = rep - sim_sum / (t + 1)
            score[chosen] = -np.inf
            i = argmax_random_tie(score, rng)
            chosen.append(i)
            sim_sum += np.exp(-gamma * squared_distances(x, x[i:i + 1])[:, 0])
        return np.array(chosen)


COLD_STARTS: dict[str, type[ColdStart]] = {
    "kmeans": KMeansColdStart,
    "kmeans_per_clip": KMeansPerClipColdStart,
    "random": RandomColdStart,
    "dacs": DACS,
    "bmal": BMAL,
    "dacs_kcenter": DACSKCenter,
    "kernel_herding": KernelHerding,
}

__all__ = ["BMAL", "COLD_STARTS", "ColdStart", "DACS", "DACSKCenter", "KernelHerding", "neighbour_divergence", "KMeansColdStart", "KMeansPerClipColdStart", "RandomColdStart", "elbow_k",
           "knn_density"]
