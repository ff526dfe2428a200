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


def nearest_to_centres(x: np.ndarray, centres: np.ndarray,
                       rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One distinct row of x per centre: the nearest row not already taken by an earlier centre; rows at
    the same distance are chosen between by ``rng`` (row order only without one).

    Returns (indices [k], distances [k]). Needs len(x) >= len(centres).
    """
    d = np.sqrt(squared_distances(centres, x))
    taken = np.zeros(x.shape[0], dtype=bool)
    idx, dist = [], []
    for c in range(centres.shape[0]):
        row = np.where(taken, np.inf, d[c])
        i = int(np.argmin(row)) if rng is None else argmax_random_tie(-row, rng)
        taken[i] = True
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
        idx, dist = nearest_to_centres(s, km.cluster_centers_, rng)
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
