"""Acquisition strategies: score arrays about the unlabelled pool, return which rows to label next.

A strategy never sees a model. It names what it needs in ``requires`` (fields of :class:`PoolView`) and the
loop supplies those arrays. Every strategy is deterministic for a given ``np.random.Generator``; ties are
broken by the generator, never by row order alone.

Registry: :data:`STRATEGIES` maps CLI names to classes.
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.cluster import KMeans

from after.al import annotators
from after.al.base import (PoolView, ScoreStrategy, Selection, Strategy, argmax_random_tie, bald_scores, entropy,
                           seed_from, top_k_from)
from after.al.batchbald import BatchBALD

log = logging.getLogger(__name__)

__all__ = ["STRATEGIES", "PoolView", "Selection", "Strategy", "ScoreStrategy", "argmax_random_tie", "bald_scores",
           "seed_from", "Random", "Entropy", "LeastConfidence", "Margin", "BALD", "BatchBALD", "CoreSet", "BADGE",
           "ALPs", "IndividualEntropy", "GroupEntropy", "VoteVariance", "MixedEntropy", "MeanIndividualEntropy",
           "MeanGroupEntropy", "ProbabilityVariance", "WeightedMix", "squared_distances"]


class Random(Strategy):
    """Uniformly random rows (the passive-learning baseline). Scores are all zero."""

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        return Selection(indices=rng.permutation(view.n)[:k], scores=np.zeros(k))


class Entropy(ScoreStrategy):
    """Predictive entropy H[p(y|x)] (Shannon 1948; Settles 2009)."""

    requires = frozenset({"probs"})

    def scores(self, view: PoolView) -> np.ndarray:
        return entropy(view.probs, axis=1)


class LeastConfidence(ScoreStrategy):
    """1 - max_y p(y|x) (Lewis & Gale 1994)."""

    requires = frozenset({"probs"})

    def scores(self, view: PoolView) -> np.ndarray:
        return 1.0 - view.probs.max(axis=1)


class Margin(ScoreStrategy):
    """Smallest gap between the two most probable classes (Scheffer et al. 2001); score = 1 - gap."""

    requires = frozenset({"probs"})

    def scores(self, view: PoolView) -> np.ndarray:
        top2 = np.sort(view.probs, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])


class BALD(ScoreStrategy):
    """Bayesian Active Learning by Disagreement (Houlsby et al. 2011; Gal et al. 2017), top-k mutual
    information between the label and the MC-dropout weights."""

    requires = frozenset({"mc_probs"})

    def scores(self, view: PoolView) -> np.ndarray:
        return bald_scores(view.mc_probs)


def squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances [len(x), len(y)], clipped at zero against round-off."""
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.maximum(d, 0.0)


def min_squared_distance(x: np.ndarray, centres: np.ndarray, chunk: int = 512, rows: int = 4096) -> np.ndarray:
    """[n] squared distance from each row of x to its nearest centre (inf when there are no centres).

    Blocks of ``rows`` x ``chunk`` (a few MB, in cache; never [n, chunk]), in the dtype of ``x`` (float32
    stays float32): min_j (|c_j|^2 - 2 x.c_j), computed in place, then + |x|^2."""
    out = np.full(x.shape[0], np.inf)
    if centres.shape[0] == 0:
        return out
    centres = centres.astype(x.dtype, copy=False)
    cc = np.einsum("ij,ij->i", centres, centres)
    for r in range(0, x.shape[0], rows):
        xr = x[r:r + rows]
        best = np.full(xr.shape[0], np.inf, dtype=x.dtype)
        for start in range(0, centres.shape[0], chunk):
            g = xr @ centres[start:start + chunk].T
            g *= -2.0
            g += cc[None, start:start + chunk]
            np.minimum(best, g.min(axis=1), out=best)
        out[r:r + rows] = best + np.einsum("ij,ij->i", xr, xr)
    return np.maximum(out, 0.0)


class _Incremental:
    """Squared distances from every row to one chosen row, in O(n d) per call with the norms kept:
    ``||x_i - x_j||^2 = |x_i|^2 + |x_j|^2 - 2 x_i.x_j``."""

    def __init__(self, x: np.ndarray):
        self.x = x
        self.norms = np.einsum("ij,ij->i", x, x)

    def to(self, j: int) -> np.ndarray:
        return np.maximum(self.norms + self.norms[j] - 2.0 * (self.x @ self.x[j]), 0.0)


class _Factored:
    """The same for BADGE embeddings g_i = a_i (x) h_i, never built: <g_i, g_j> = (a_i.a_j)(h_i.h_j), so a
    distance costs O(n (H + c)) instead of O(n H c)."""

    def __init__(self, h: np.ndarray, a: np.ndarray):
        self.h, self.a = h, a
        self.norms = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)

    def to(self, j: int) -> np.ndarray:
        return np.maximum(self.norms + self.norms[j] - 2.0 * (self.a @ self.a[j]) * (self.h @ self.h[j]), 0.0)


class CoreSet(Strategy):
    """Greedy k-center core-set (Sener & Savarese 2018) on ``embeddings``.

    Each pick is the candidate farthest (Euclidean) from every labelled embedding and every earlier pick;
    its score is that distance. With no labelled embeddings (m = 0) the pool mean stands in for the
    labelled set, so the first pick is the candidate farthest from it. Exact, and lazy: a candidate's
    distance to its nearest centre only shrinks as picks are added, so the last value computed is an upper
    bound; each pick brings the bounds of the largest candidates up to date (their distances to the picks
    made since) in descending order, until the largest fresh distance beats every stale bound (ties
    within the tolerance of :func:`argmax_random_tie` included). The same picks as the full update of every
    distance after every pick, which reads all n embeddings per pick (``lazy=False``).
    """

    requires = frozenset({"embeddings", "labelled_embeddings"})

    def __init__(self, lazy: bool = True, block: int = 256):
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self.lazy, self.block = bool(lazy), int(block)

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        x = view.embeddings
        centres = view.labelled_embeddings if view.labelled_embeddings.shape[0] else x.mean(axis=0, keepdims=True)
        min_d = min_squared_distance(x, centres)
        dist = _Incremental(x)
        if self.lazy:
            return _lazy_k_center(dist, min_d, k, rng, self.block)
        chosen, scores = [], []
        for _ in range(k):
            i = argmax_random_tie(min_d, rng)
            chosen.append(i)
            scores.append(np.sqrt(max(min_d[i], 0.0)))
            np.minimum(min_d, dist.to(i), out=min_d)
            min_d[i] = -np.inf  # never picked again
        return Selection(np.array(chosen), np.array(scores))


def _lazy_k_center(dist: _Incremental, bound: np.ndarray, k: int, rng: np.random.Generator, block: int
                   ) -> Selection:
    """Greedy k-center with lazy updates: ``bound[i]`` is row i's squared distance to its nearest centre
    counting the first ``seen[i]`` picks, an upper bound on the true one."""
    x, norms = dist.x, dist.norms
    seen = np.zeros(len(bound), dtype=np.int64)
    chosen: list[int] = []
    scores = []
    for _ in range(k):
        m = min(len(bound), 4 * block)
        top = np.argpartition(-bound, m - 1)[:m] if m < len(bound) else np.arange(len(bound))
        order = top[np.argsort(-bound[top], kind="stable")]
        start_bounds = bound[order]
        picks = np.asarray(chosen, dtype=np.int64)
        pos, best = 0, -np.inf
        while pos < len(order):
            if best > -np.inf and start_bounds[pos] < best - 1e-12 * max(1.0, abs(best)):
                break                                   # no stale bound can reach (or tie) the best
            blk = order[pos:pos + block]
            _refresh(x, norms, bound, seen, blk, picks)
            best = max(best, float(bound[blk].max()))
            pos += len(blk)
        if pos >= len(order) and m < len(bound):        # the top ran out: every row, the full way
            _refresh(x, norms, bound, seen, np.flatnonzero(seen < len(chosen)), picks)
        i = argmax_random_tie(bound, rng) if pos >= len(order) else _argmax_fresh(bound, order[:pos], rng)
        chosen.append(i)
        scores.append(np.sqrt(max(bound[i], 0.0)))
        bound[i] = -np.inf
    return Selection(np.array(chosen), np.array(scores))


def _refresh(x: np.ndarray, norms: np.ndarray, bound: np.ndarray, seen: np.ndarray, rows: np.ndarray,
             picks: np.ndarray) -> None:
    """Bring ``bound[rows]`` up to date with the picks each row has not seen yet (in place)."""
    rows = rows[(seen[rows] < len(picks)) & (bound[rows] > -np.inf)]
    if len(rows) == 0 or len(picks) == 0:
        return
    first = int(seen[rows].min())
    new = picks[first:]
    # float64 products (exact for float32 inputs): a row's distances do not depend on the block it is in,
    # so rows that are copies of each other stay tied, as in the full update
    d = norms[rows][:, None] + norms[new][None, :] - 2.0 * (x[rows].astype(np.float64) @ x[new].T.astype(np.float64))
    d[np.arange(len(new))[None, :] < (seen[rows] - first)[:, None]] = np.inf   # picks a row has seen
    bound[rows] = np.minimum(bound[rows], np.maximum(d, 0.0).min(axis=1))
    seen[rows] = len(picks)


def _argmax_fresh(bound: np.ndarray, fresh: np.ndarray, rng: np.random.Generator) -> int:
    """``argmax_random_tie(bound, rng)`` when every row that can reach the maximum is in ``fresh``: the
    tied rows in ascending row order, as ``np.flatnonzero`` gives them over the whole array."""
    vals = bound[fresh]
    best = vals.max()
    tied = np.sort(fresh[vals >= best - 1e-12 * max(1.0, abs(best))])
    return int(tied[0] if tied.size == 1 else rng.choice(tied))


def kmeans_pp(dist, k: int, rng: np.random.Generator) -> tuple[list[int], list[float]]:
    """k-means++ seeding (D^2 sampling) from the largest norm, for a ``dist`` with ``norms`` and ``to(j)``.

    Each later pick is drawn with probability proportional to its squared distance to the nearest pick;
    one O(n) distance update per pick. Returns (picks, scores: the norm, then each pick's distance)."""
    norms = np.sqrt(dist.norms)
    first = argmax_random_tie(norms, rng)
    chosen, scores = [first], [float(norms[first])]
    min_d = dist.to(first).astype(np.float64)
    min_d[first] = 0.0
    n = min_d.shape[0]
    for _ in range(k - 1):
        cum = np.cumsum(min_d)
        if cum[-1] > 0:
            i = min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), n - 1)
        else:  # every remaining point duplicates a pick: no gradient diversity left, draw uniformly
            free = np.ones(n, dtype=bool)
            free[chosen] = False
            i = int(rng.choice(np.flatnonzero(free)))
        chosen.append(i)
        scores.append(float(np.sqrt(min_d[i])))
        np.minimum(min_d, dist.to(i), out=min_d)
        min_d[chosen[-1]] = 0.0
    return chosen, scores


class BADGE(Strategy):
    """Batch Active learning by Diverse Gradient Embeddings (Ash et al. 2020).

    k-means++ seeding on the gradient embeddings g_i = (p_i - onehot(argmax p_i)) (x) h_i: the first pick is
    the largest gradient norm (as in the authors' code), each later pick is drawn with probability
    proportional to its squared distance to the nearest pick (D^2 sampling). Score: that distance (the norm
    for the first pick). Given the factors (``penultimate`` h, ``residuals`` a) instead of
    ``grad_embeddings``, the same distances are computed without the [n, c*H] array (exact, faster).

    Archive scale (an approximation, on by default above ``sample`` candidates): the seeding runs on
    ``candidate_sample(n, sample, rng)`` (``sample`` rows drawn at random, the first draw of ``rng``) plus
    the largest-norm row, which stays the first pick. With at most ``sample`` candidates (or ``sample=0``)
    it is the exact BADGE above, with the same picks.
    """

    requires = frozenset({"grad_embeddings"})   # or its factors: see PoolView.missing

    def __init__(self, sample: int = 20_000):
        if sample < 0:
            raise ValueError(f"sample must be >= 0 (0 = exact); got {sample}")
        self.sample = int(sample)

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        g = view.grad_embeddings
        n = (g if g is not None else view.penultimate).shape[0]
        rows = None
        if self.sample and n > max(self.sample, k):
            rows = candidate_sample(n, max(self.sample, k), rng)
            full = _Incremental(g) if g is not None else _Factored(view.penultimate, view.residuals)
            top = np.flatnonzero(full.norms == full.norms.max())    # argmax candidates of the exact BADGE
            rows = np.union1d(rows, top)
            g = g[rows] if g is not None else None
        if g is not None:
            dist = _Incremental(g)
        elif rows is None:
            dist = _Factored(view.penultimate, view.residuals)
        else:
            dist = _Factored(view.penultimate[rows], view.residuals[rows])
        chosen, scores = kmeans_pp(dist, k, rng)
        chosen = np.array(chosen) if rows is None else rows[np.array(chosen)]
        return Selection(chosen, np.array(scores))


def candidate_sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` of ``n`` rows drawn without replacement, sorted (the archive-scale candidate sample)."""
    return np.sort(rng.choice(n, size, replace=False))


def nearest_to_centres(x: np.ndarray, centres: np.ndarray,
                       rng: np.random.Generator | None = None, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One distinct row of x per centre: the nearest row not already taken by an earlier centre; rows at
    the same distance are chosen between by ``rng`` (row order only without one).

    Returns (indices [k], distances [k]). Needs len(x) >= len(centres). The distances are computed for
    ``chunk`` centres at a time ([chunk, n], never [k, n]), and taken rows are masked by their indices
    (O(k) per centre, not a masked copy of the row).
    """
    taken: list[int] = []
    idx, dist = [], []
    for start in range(0, centres.shape[0], chunk):
        block = np.sqrt(squared_distances(centres[start:start + chunk], x))
        for row in block:
            row[taken] = np.inf
            if rng is None:
                i = int(np.argmin(row))
            else:   # argmax_random_tie(-row, rng), without negating the row
                best = row.min()
                tied = np.flatnonzero(row <= best + 1e-12 * max(1.0, abs(best)))
                i = int(tied[0] if tied.size == 1 else rng.choice(tied))
            taken.append(i)
            idx.append(i)
            dist.append(row[i])
    return np.array(idx, dtype=np.int64), np.array(dist)


class ALPs(Strategy):
    """Active Learning by Processing Surprisal (Yuan et al. 2020), adapted to speech.

    Yuan et al. form, for each text, a "surprisal embedding": the per-token masked-LM loss of the pre-trained
    model, L2-normalised, then run k-means with k clusters and label the sample nearest each centre. It
    needs no labels and no classifier, so it works in the first round.

    Speech encoders have no MLM head, so the loop supplies ``surprisal`` [n, s]. By default `after al` gives
    the classifier's surprisal of every class, ``-log p(c | x)`` (:func:`after.al.loop.class_surprisal`);
    ``LoopData.surprisal`` can supply another, e.g. the masked-frame reconstruction error of a TAPT encoder
    pooled over time. This class does exactly:
    (1) L2-normalise each surprisal row (an all-zero row stays zero); (2) k-means (k-means++ init, seeded
    from ``rng``, best of ``n_init``) with k clusters; (3) per centre, the nearest not-yet-taken sample.
    Score: minus the distance to its centre (closest, most typical, first).

    Archive scale (an approximation, on by default above ``sample`` candidates): k-means is fitted on
    ``sample`` rows drawn at random, then ``refine`` Lloyd iterations on every row start from its centres;
    step (3) uses every row. With at most ``sample`` candidates (or ``sample=0``) it is the exact k-means
    on all rows. Its effect on the picks is measured in ``bench/bench_al_approx.py`` (bench/RESULTS.md).
    """

    requires = frozenset({"surprisal"})

    def __init__(self, n_init: int = 3, sample: int = 20_000, refine: int = 5):
        if n_init < 1 or sample < 0 or refine < 0:
            raise ValueError(f"n_init must be >= 1, sample and refine >= 0; got {n_init}, {sample}, {refine}")
        self.n_init, self.sample, self.refine = int(n_init), int(sample), int(refine)

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        s = view.surprisal
        norms = np.linalg.norm(s, axis=1, keepdims=True)
        s = s / np.where(norms > 0, norms, 1.0)
        km = KMeans(n_clusters=k, n_init=self.n_init, random_state=seed_from(rng))
        if self.sample and s.shape[0] > max(self.sample, k):
            centres = km.fit(s[np.sort(rng.choice(s.shape[0], max(self.sample, k), replace=False))]).cluster_centers_
            if self.refine:
                centres = KMeans(n_clusters=k, init=centres, n_init=1, max_iter=self.refine).fit(s).cluster_centers_
        else:
            centres = km.fit(s).cluster_centers_
        idx, dist = nearest_to_centres(s, centres, rng)
        return top_k_from(idx, -dist, rng)


class _AnnotatorStrategy(ScoreStrategy):
    requires = frozenset({"annotator_probs"})


class IndividualEntropy(_AnnotatorStrategy):
    """Paper Eq. 12-13: the (clip, annotator) pairs with the highest entropy; a clip's score is its best
    pair's entropy, and :meth:`annotators` names the annotator to ask (see
    :func:`after.al.annotators.individual_entropy`)."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.individual_entropy(view.annotator_probs)

    def annotators(self, view: PoolView, indices: np.ndarray) -> np.ndarray:
        """The annotator of each chosen clip's highest-entropy pair."""
        return annotators.best_annotator(view.annotator_probs[np.asarray(indices)])


class GroupEntropy(_AnnotatorStrategy):
    """Paper Eq. 14: entropy of the softmax of the summed normalised logits."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.group_entropy(view.annotator_probs)


class VoteVariance(_AnnotatorStrategy):
    """Paper Eq. 15: variance of the heads' (one-hot) votes."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.vote_variance(view.annotator_probs)


class MixedEntropy(_AnnotatorStrategy):
    """The paper's mix: individual (Eq. 13) + group (Eq. 14) entropy."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.mixed_entropy(view.annotator_probs)


class MeanIndividualEntropy(_AnnotatorStrategy):
    """ACTOR-style: mean over annotator heads of each head's entropy."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.mean_individual_entropy(view.annotator_probs)


class MeanGroupEntropy(_AnnotatorStrategy):
    """ACTOR-style: entropy of the mean of the heads' probabilities."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.mean_group_entropy(view.annotator_probs)


class ProbabilityVariance(_AnnotatorStrategy):
    """Sum over classes of the variance across heads of p_a(y | x)."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.probability_variance(view.annotator_probs)


class WeightedMix(_AnnotatorStrategy):
    """Weighted mix of the normalised mean individual and mean group entropy (``weight`` on individual)."""

    def __init__(self, weight: float = 0.5):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must lie in [0, 1], got {weight}")
        self.weight = weight

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.weighted_mix(view.annotator_probs, self.weight)


STRATEGIES: dict[str, type[Strategy]] = {
    "random": Random,
    "entropy": Entropy,
    "least_confidence": LeastConfidence,
    "margin": Margin,
    "alps": ALPs,
    "bald": BALD,
    "batchbald": BatchBALD,
    "badge": BADGE,
    "coreset": CoreSet,
    "individual_entropy": IndividualEntropy,
    "group_entropy": GroupEntropy,
    "vote_variance": VoteVariance,
    "mix": MixedEntropy,
    "mean_individual_entropy": MeanIndividualEntropy,
    "mean_group_entropy": MeanGroupEntropy,
    "probability_variance": ProbabilityVariance,
    "weighted_mix": WeightedMix,
}
