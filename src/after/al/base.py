"""The contract every acquisition strategy follows: a validated :class:`PoolView` of arrays in, a
:class:`Selection` out, and the small numeric helpers several strategies share.

A strategy never sees a model. It names what it needs in ``requires`` (fields of :class:`PoolView`) and the
loop supplies those arrays. Every strategy is deterministic for a given ``np.random.Generator``; ties are
broken by the generator, never by row order alone.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
from scipy.special import entr

PROB_ATOL = 1e-4

# field -> (ndim, axis that must sum to one or None)
_FIELD_SPECS: dict[str, tuple[int, int | None]] = {
    "probs": (2, 1),
    "mc_probs": (3, 1),
    "embeddings": (2, None),
    "grad_embeddings": (2, None),
    "penultimate": (2, None),
    "residuals": (2, None),
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
    penultimate / residuals: [n, H] and [n, c], the factors of the BADGE gradient embedding
    g_i = residual_i (x) penultimate_i (residual = p - onehot(argmax p)), so distances need no [n, c*H] array.
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
    penultimate: np.ndarray | None = None
    residuals: np.ndarray | None = None
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
            # probabilities in float64 (log-based scores); feature-like arrays keep float32 (no pool-sized copy)
            keep32 = sum_axis is None and np.asarray(value).dtype == np.float32
            arr = np.asarray(value, dtype=np.float32 if keep32 else np.float64)
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
                # round-off within the tolerance (-1e-5, sums of 1 +- 1e-5) is clipped and renormalised, so
                # log-based scores (entropy, BALD, BatchBALD) never see a negative probability
                arr = np.clip(arr, 0.0, None)
                arr = arr / arr.sum(axis=sum_axis, keepdims=True)
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
        factored = self.penultimate is not None and self.residuals is not None
        return sorted(r for r in requires if getattr(self, r) is None
                      and not (r == "grad_embeddings" and factored))   # BADGE's factors stand in for it


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


def bald_scores(mc_probs: np.ndarray) -> np.ndarray:
    """BALD mutual information I[y; w | x] = H[E_w p] - E_w H[p] from mc_probs [n, c, T] -> [n]."""
    return entropy(mc_probs.mean(axis=2), axis=1) - entropy(mc_probs, axis=1).mean(axis=1)


def seed_from(rng: np.random.Generator) -> int:
    """A seed for libraries that take an int (scikit-learn), drawn from ``rng`` so runs stay reproducible."""
    return int(rng.integers(0, 2**31 - 1))


def top_k_from(indices: np.ndarray, scores: np.ndarray, rng: np.random.Generator) -> Selection:
    """Reorder given (index, score) pairs best first, random among equal scores."""
    order = top_k(scores, len(scores), rng).indices
    return Selection(indices=indices[order], scores=scores[order])
