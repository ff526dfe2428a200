"""Acquisition strategies: score arrays about the unlabelled pool, return which rows to label next.

A strategy never sees a model. It names what it needs in ``requires`` (fields of :class:`PoolView`) and the
loop supplies those arrays. Every strategy is deterministic for a given ``np.random.Generator``; ties are
broken by the generator, never by row order alone.

Registry: :data:`STRATEGIES` maps CLI names to classes.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
from scipy.special import entr
from sklearn.cluster import KMeans

from after.al import annotators

log = logging.getLogger(__name__)

PROB_ATOL = 1e-4

# field -> (ndim, axis that must sum to one or None)
_FIELD_SPECS: dict[str, tuple[int, int | None]] = {
    "probs": (2, 1),
    "mc_probs": (3, 1),
    "embeddings": (2, None),
    "grad_embeddings": (2, None),
    "labelled_embeddings": (2, None),
    "surprisal": (2, None),
    "annotator_probs": (3, 2),
}
_UNLABELLED_FIELDS = tuple(f for f in _FIELD_SPECS if f != "labelled_embeddings")


@dataclass(frozen=True)
class PoolView:
    """Everything known about the unlabelled candidates, row-aligned (row i is the same clip everywhere).

    probs: [n, c] predictive distribution. mc_probs: [n, c, T] MC-dropout samples. embeddings: [n, d]
    pooled encoder/penultimate embeddings. grad_embeddings: [n, g] BADGE gradient embeddings.
    labelled_embeddings: [m, d] embeddings of the labelled set (context for CoreSet; m may be 0).
    surprisal: [n, s] ALPs surprisal embeddings. annotator_probs: [n, a, c] predictions of a model with one
    head per annotator (for the annotator-aware strategies). n_candidates: the pool size, needed only when
    no array is given (Random).

    Arrays are validated when the view is built: right ndim, finite, one row count, probabilities
    non-negative and summing to one within ``PROB_ATOL``.
    """

    probs: np.ndarray | None = None
    mc_probs: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    grad_embeddings: np.ndarray | None = None
    labelled_embeddings: np.ndarray | None = None
    surprisal: np.ndarray | None = None
    annotator_probs: np.ndarray | None = None
    n_candidates: int | None = None

    def __post_init__(self) -> None:
        rows: dict[str, int] = {}
        for name, (ndim, sum_axis) in _FIELD_SPECS.items():
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, dtype=np.float64)
            if arr.ndim != ndim:
                raise ValueError(f"PoolView.{name} must have {ndim} dimensions, got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"PoolView.{name} contains NaN or infinite values")
            if sum_axis is not None:
                if np.any(arr < -PROB_ATOL):
                    raise ValueError(f"PoolView.{name} has negative probabilities")
                dev = np.abs(arr.sum(axis=sum_axis) - 1.0)
                if dev.size and dev.max() > PROB_ATOL:
                    raise ValueError(f"PoolView.{name}: probabilities along axis {sum_axis} must sum to 1 "
                                     f"(largest deviation {dev.max():.3g}); pass softmax outputs, not logits")
            object.__setattr__(self, name, arr)
            if name != "labelled_embeddings":
                rows[name] = arr.shape[0]
        if self.n_candidates is not None:
            rows["n_candidates"] = int(self.n_candidates)
        if len(set(rows.values())) > 1:
            raise ValueError(f"PoolView arrays disagree on the number of candidates: {rows}")
        if self.probs is not None and self.mc_probs is not None and self.probs.shape[1] != self.mc_probs.shape[1]:
            raise ValueError(f"PoolView: probs has {self.probs.shape[1]} classes, mc_probs {self.mc_probs.shape[1]}")
        if (self.embeddings is not None and self.labelled_embeddings is not None
                and self.embeddings.shape[1] != self.labelled_embeddings.shape[1]):
            raise ValueError(f"PoolView: embeddings have dimension {self.embeddings.shape[1]} but "
                             f"labelled_embeddings {self.labelled_embeddings.shape[1]}")

    @property
    def n(self) -> int:
        """Number of unlabelled candidates (0 for a view with no arrays and no ``n_candidates``)."""
        for name in _UNLABELLED_FIELDS:
            value = getattr(self, name)
            if value is not None:
                return int(value.shape[0])
        return int(self.n_candidates or 0)

    def missing(self, requires: frozenset[str]) -> list[str]:
        """Names in ``requires`` this view does not carry."""
        known = {f.name for f in fields(self)}
        unknown = set(requires) - known
        if unknown:
            raise ValueError(f"unknown PoolView field(s) required: {sorted(unknown)}")
        return sorted(r for r in requires if getattr(self, r) is None)


@dataclass(frozen=True)
class Selection:
    """indices: [k] positions into the view, best first, unique. scores: [k] the strategy's score of each
    chosen item (higher = more informative)."""

    indices: np.ndarray
    scores: np.ndarray


def top_k(scores: np.ndarray, k: int, rng: np.random.Generator) -> Selection:
    """The k highest scores, best first; equal scores are ordered by a random key from ``rng``."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((rng.random(scores.shape[0]), -scores))[:k]
    return Selection(indices=order, scores=scores[order])


def argmax_random_tie(scores: np.ndarray, rng: np.random.Generator, rtol: float = 1e-12) -> int:
    """Index of the largest finite score; among (numerically) equal maxima, one chosen by ``rng``."""
    best = np.max(scores)
    tied = np.flatnonzero(scores >= best - rtol * max(1.0, abs(best)))
    return int(tied[0] if tied.size == 1 else rng.choice(tied))


class Strategy(ABC):
    """Template for an acquisition strategy: validate, then call the one hook :meth:`_select`."""

    requires: ClassVar[frozenset[str]] = frozenset()

    def select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        """Choose ``k`` unlabelled rows of ``view``; raises ValueError for a bad ``k`` or an incomplete view."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng)}")
        missing = view.missing(self.requires)
        if missing:
            raise ValueError(f"{type(self).__name__} needs PoolView field(s) {missing}; the loop must supply them")
        n = view.n
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"k must be an integer, got {k!r}")
        if not 1 <= k <= n:
            raise ValueError(f"{type(self).__name__}: k must be between 1 and the number of unlabelled "
                             f"candidates ({n}), got {k}")
        sel = self._select(view, int(k), rng)
        indices = np.asarray(sel.indices, dtype=np.int64)
        if indices.shape != (k,) or np.unique(indices).size != k or indices.min() < 0 or indices.max() >= n:
            raise RuntimeError(f"{type(self).__name__} returned invalid indices {indices}")  # a bug, not user input
        return Selection(indices=indices, scores=np.asarray(sel.scores, dtype=np.float64))

    @abstractmethod
    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        """Return k unique row indices (best first) and their scores."""


class ScoreStrategy(Strategy):
    """A strategy that scores each row independently and takes the top k."""

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        return top_k(self.scores(view), k, rng)

    @abstractmethod
    def scores(self, view: PoolView) -> np.ndarray:
        """[n] informativeness of each candidate, higher is better."""


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats along ``axis``."""
    return entr(p).sum(axis=axis)


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


def bald_scores(mc_probs: np.ndarray) -> np.ndarray:
    """BALD mutual information I[y; w | x] = H[E_w p] - E_w H[p] from mc_probs [n, c, T] -> [n]."""
    return entropy(mc_probs.mean(axis=2), axis=1) - entropy(mc_probs, axis=1).mean(axis=1)


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


def min_squared_distance(x: np.ndarray, centres: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """[n] squared distance from each row of x to its nearest centre (inf when there are no centres)."""
    out = np.full(x.shape[0], np.inf)
    for start in range(0, centres.shape[0], chunk):
        out = np.minimum(out, squared_distances(x, centres[start:start + chunk]).min(axis=1))
    return out


class CoreSet(Strategy):
    """Greedy k-center core-set (Sener & Savarese 2018) on ``embeddings``.

    Each pick is the candidate farthest (Euclidean) from every labelled embedding and every earlier pick;
    its score is that distance. With no labelled embeddings (m = 0) the pool mean stands in for the
    labelled set, so the first pick is the candidate farthest from it.
    """

    requires = frozenset({"embeddings", "labelled_embeddings"})

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        x = view.embeddings
        centres = view.labelled_embeddings if view.labelled_embeddings.shape[0] else x.mean(axis=0, keepdims=True)
        min_d = min_squared_distance(x, centres)
        chosen, scores = [], []
        for _ in range(k):
            i = argmax_random_tie(min_d, rng)
            chosen.append(i)
            scores.append(np.sqrt(min_d[i]))
            min_d = np.minimum(min_d, squared_distances(x, x[i:i + 1])[:, 0])
            min_d[chosen] = -np.inf  # never picked again
        return Selection(np.array(chosen), np.array(scores))


class BADGE(Strategy):
    """Batch Active learning by Diverse Gradient Embeddings (Ash et al. 2020).

    k-means++ seeding on ``grad_embeddings`` [n, g]: the first pick is the largest gradient norm (as in the
    authors' code), each later pick is drawn with probability proportional to its squared distance to the
    nearest pick (D^2 sampling). Score: that distance (the norm for the first pick).
    """

    requires = frozenset({"grad_embeddings"})

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        g = view.grad_embeddings
        norms = np.sqrt((g * g).sum(1))
        first = argmax_random_tie(norms, rng)
        chosen, scores = [first], [norms[first]]
        min_d = squared_distances(g, g[first:first + 1])[:, 0]
        for _ in range(k - 1):
            min_d[chosen] = 0.0
            total = min_d.sum()
            if total > 0:
                i = int(rng.choice(g.shape[0], p=min_d / total))
            else:  # every remaining point duplicates a pick: no gradient diversity left, draw uniformly
                i = int(rng.choice(np.setdiff1d(np.arange(g.shape[0]), chosen)))
            chosen.append(i)
            scores.append(np.sqrt(min_d[i]))
            min_d = np.minimum(min_d, squared_distances(g, g[i:i + 1])[:, 0])
        return Selection(np.array(chosen), np.array(scores))


def seed_from(rng: np.random.Generator) -> int:
    """A seed for libraries that take an int (scikit-learn), drawn from ``rng`` so runs stay reproducible."""
    return int(rng.integers(0, 2**31 - 1))


def nearest_to_centres(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One distinct row of x per centre: the nearest row not already taken by an earlier centre.

    Returns (indices [k], distances [k]). Needs len(x) >= len(centres).
    """
    d = np.sqrt(squared_distances(centres, x))
    taken = np.zeros(x.shape[0], dtype=bool)
    idx, dist = [], []
    for c in range(centres.shape[0]):
        row = np.where(taken, np.inf, d[c])
        i = int(np.argmin(row))
        taken[i] = True
        idx.append(i)
        dist.append(row[i])
    return np.array(idx, dtype=np.int64), np.array(dist)


class ALPs(Strategy):
    """Active Learning by Processing Surprisal (Yuan et al. 2020), adapted to speech.

    Yuan et al. form, for each text, a "surprisal embedding": the per-token masked-LM loss of the pre-trained
    model, L2-normalised, then run k-means with k clusters and label the sample nearest each centre. It
    needs no labels and no classifier, so it works in the first round.

    Speech encoders have no MLM head, so the loop supplies ``surprisal`` [n, s] computed from the (TAPT)
    encoder, for instance the per-dimension reconstruction error of masked frames pooled over time, or the
    entropy of the model's predictions under s random input perturbations. This class does exactly:
    (1) L2-normalise each surprisal row (an all-zero row stays zero); (2) k-means (k-means++ init, seeded
    from ``rng``) with k clusters; (3) per centre, the nearest not-yet-taken sample. Score: minus the
    distance to its centre (closest, most typical, first).
    """

    requires = frozenset({"surprisal"})
    n_init = 3

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        s = view.surprisal
        norms = np.linalg.norm(s, axis=1, keepdims=True)
        s = s / np.where(norms > 0, norms, 1.0)
        km = KMeans(n_clusters=k, n_init=self.n_init, random_state=seed_from(rng)).fit(s)
        idx, dist = nearest_to_centres(s, km.cluster_centers_)
        return top_k_from(idx, -dist, rng)


def top_k_from(indices: np.ndarray, scores: np.ndarray, rng: np.random.Generator) -> Selection:
    """Reorder given (index, score) pairs best first, random among equal scores."""
    order = top_k(scores, len(scores), rng).indices
    return Selection(indices=indices[order], scores=scores[order])



class BatchBALD(Strategy):
    """BatchBALD (Kirsch, van Amersfoort & Gal 2019): greedy maximisation of the joint mutual information
    I[y_1..y_b; w] between the labels of the whole batch B and the weights, from ``mc_probs`` [n, c, T].

    Adding x to B gains I[y_B, y_x; w] - I[y_B; w] = H[y_x | y_B] - E_w H[y_x | w]; the second term is the
    per-point expected entropy, the first needs p(y_B) = 1/T sum_t prod_{j in B} p(y_j | w_t).

    * Exact while the joint table c^(|B|+1) has at most ``max_configurations`` entries: P [T, c^|B|] holds
      prod_j p(y_j | w_t) for every configuration; one matrix product gives every candidate's joint table,
      and H[y_x | y_B] = H[y_B, y_x] - H[y_B].
    * Beyond that, ``n_samples`` (M) configurations y_B^m are drawn from p(y_B) (from the exact table at the
      switch, then each extended by y_new ~ p(y_new | y_B^m)), and
      H[y_x | y_B] ~= 1/M sum_m H[p(y_x | y_B^m)],  p(y_x | y_B^m) = sum_t P[t, m] p(y_x | w_t) / sum_t P[t, m].
      P is kept column-normalised, so long batches never underflow.

    Speed and memory: joint tables are float32 and built in candidate chunks of at most ``memory_mb``.
    With ``lazy`` (Minoux's lazy greedy), candidates are evaluated in descending order of their last gain
    and a step stops as soon as the best fresh gain beats every stale one: the joint mutual information is
    submodular, so a gain can only shrink as the batch grows (with sampled configurations this holds up to
    estimation noise). Score of a pick: its gain (the first pick's gain is its BALD score).
    """

    requires = frozenset({"mc_probs"})

    def __init__(self, max_configurations: int = 1024, n_samples: int = 1024, memory_mb: float = 256.0,
                 lazy: bool = True, lazy_chunk: int = 256):
        if min(max_configurations, n_samples, lazy_chunk) < 1 or memory_mb <= 0:
            raise ValueError("max_configurations, n_samples, lazy_chunk and memory_mb must be positive")
        self.max_configurations = int(max_configurations)
        self.n_samples = int(n_samples)
        self.memory_mb = float(memory_mb)
        self.lazy = bool(lazy)
        self.lazy_chunk = int(lazy_chunk)

    def _conditional_entropies(self, p: np.ndarray, cols: np.ndarray, sampled: bool) -> np.ndarray:
        """[b] H[y_x | y_B] for candidates p [b, T, c] (float32) given the batch table cols [T, K]."""
        b, t, c = p.shape
        k_conf = cols.shape[1]
        chunk = max(1, int(self.memory_mb * 2**20 / 4 / (k_conf * c * 3)))  # q, log q, product
        cols_t = (cols.T / t).astype(np.float32)
        out = np.empty(b)
        for s in range(0, b, chunk):
            q = cols_t @ p[s:s + chunk].transpose(1, 0, 2).reshape(t, -1)  # [K, chunk*c]
            # -q log q by hand (scipy's entr is several times slower); sum over configurations first,
            # a reduction along contiguous rows, then over the c classes
            h = -(q * np.log(np.maximum(q, np.float32(1e-30)))).sum(axis=0, dtype=np.float64)
            out[s:s + chunk] = h.reshape(-1, c).sum(axis=1)
        if sampled:
            return out / k_conf
        return out - entropy(cols.mean(axis=0))

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        p = np.ascontiguousarray(view.mc_probs.transpose(0, 2, 1))  # [n, T, c]
        n, t, c = p.shape
        cond = entropy(p, axis=2).mean(axis=1)  # [n] E_w H[y | w]
        p32 = p.astype(np.float32)
        bounds = bald_scores(view.mc_probs)  # upper bounds on every later gain
        cols = np.ones((t, 1))  # exact: prod_j p(y_j | w_t) per configuration; sampled: column-normalised
        sampled = False
        available = np.ones(n, dtype=bool)
        chosen, gains = [], []
        for _ in range(k):
            cand = np.flatnonzero(available)
            order = cand[np.lexsort((rng.random(cand.size), -bounds[cand]))]
            step = self.lazy_chunk if self.lazy else order.size
            pos = 0
            while True:
                blk = order[pos:pos + step]
                bounds[blk] = self._conditional_entropies(p32[blk], cols, sampled) - cond[blk]
                pos += blk.size
                fresh = order[:pos]
                if pos >= order.size or bounds[fresh].max() >= bounds[order[pos:]].max():
                    break
            i = int(fresh[argmax_random_tie(bounds[fresh], rng)])
            chosen.append(i)
            gains.append(bounds[i])
            available[i] = False
            cols, sampled = self._extend(cols, sampled, p[i], rng)
        return Selection(np.array(chosen), np.array(gains))

    def _extend(self, cols: np.ndarray, sampled: bool, p_new: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, bool]:
        """Add the chosen point (p_new [T, c]) to the batch table; switch to sampling when it grows too big."""
        t, c = p_new.shape
        if not sampled:
            cols = (cols[:, :, None] * p_new[:, None, :]).reshape(t, -1)
            if cols.shape[1] * c <= self.max_configurations:
                return cols, False
            weights = cols.mean(axis=0)
            pick = rng.choice(cols.shape[1], size=self.n_samples, p=weights / weights.sum())
            cols = cols[:, pick]
            return cols / cols.mean(axis=0, keepdims=True), True
        cond_y = (cols.T @ p_new) / t  # [M, c] p(y_new | y_B^m)
        cum = np.cumsum(cond_y, axis=1)
        y = np.minimum((cum < rng.random((cum.shape[0], 1)) * cum[:, -1:]).sum(axis=1), c - 1)
        q = cond_y[np.arange(cond_y.shape[0]), y]
        return cols * p_new[:, y] / q[None, :], True


class _AnnotatorStrategy(ScoreStrategy):
    requires = frozenset({"annotator_probs"})


class IndividualEntropy(_AnnotatorStrategy):
    """Mean entropy of the per-annotator predictions; see :func:`after.al.annotators.individual_entropy`."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.individual_entropy(view.annotator_probs)


class GroupEntropy(_AnnotatorStrategy):
    """Entropy of the predicted group vote; see :func:`after.al.annotators.group_entropy`."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.group_entropy(view.annotator_probs)


class VoteVariance(_AnnotatorStrategy):
    """Spread of the annotators' predicted votes; see :func:`after.al.annotators.vote_variance`."""

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.vote_variance(view.annotator_probs)


class MixedEntropy(_AnnotatorStrategy):
    """Weighted mix of normalised individual and group entropy; see :func:`after.al.annotators.mixed_entropy`."""

    def __init__(self, weight: float = 0.5):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must lie in [0, 1], got {weight}")
        self.weight = weight

    def scores(self, view: PoolView) -> np.ndarray:
        return annotators.mixed_entropy(view.annotator_probs, self.weight)


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
}
