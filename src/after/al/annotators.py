"""Annotator-aware acquisition scores and soft labels (AFTER extension, Li et al. 2024, arXiv 2405.00307,
section 5.7 Eq. 12-15 and section 5.8 Eq. 17).

All scores take ``annotator_probs`` [n, a, c]: p_a(y | x), the prediction of the head for annotator a
(the softmax of that head's logits z^a).

The paper's definitions (the strategy names ``individual_entropy``, ``group_entropy``, ``vote_variance``,
``mix``):

* individual entropy (Eq. 12-13): H_indi(p^a | x) per (clip, annotator) pair; the pair with the highest
  entropy is chosen and that annotator asked. Per clip: u(x) = max_a H[p_a(. | x)], and
  :func:`best_annotator` names the argmax annotator (:func:`individual_entropy`). The active-learning
  loop queries this strategy pair by pair (:data:`PAIR_SCORES`, :func:`select_pairs`; see below).
* group entropy (Eq. 14): the entropy of softmax(sum_a z_norm^a). The logits of each head are normalised
  as log-softmax (z_norm^a = log p_a, the only normalisation that makes logits of different heads
  comparable without a free scale), so the group distribution is softmax(sum_a log p_a), the normalised
  product of the heads (:func:`group_entropy`).
* vote variance (Eq. 15): Var(x) = 1/|A| sum_a ||y^a - mu||^2 with y^a the one-hot vote (argmax) of head
  a and mu their mean; equals 1 - sum_y v_y^2 for the vote shares v (:func:`vote_variance`).
* mix: H_mix = H_indi + H_group (:func:`mixed_entropy`).

ACTOR-style averages (Wang & Plank 2023), kept under their own names: ``mean_individual_entropy`` (mean over
heads of H[p_a]), ``mean_group_entropy`` (H of the mean probability), ``probability_variance``
(sum_y Var_a p_a(y)) and ``weighted_mix`` (w * mean individual + (1 - w) * mean group, each / log c).

Pair-wise querying (Eq. 13). The unit of acquisition of ``individual_entropy`` is a (clip, annotator)
pair, so :class:`~after.al.loop.ActiveLearningLoop` asks the oracle for pairs and the oracle gives only
that annotator's vote. What the loop does, and why:

* A round of k acquisitions picks the k highest-entropy pairs (k = floor(Ns / tau), as for clips): the
  budget Ns counts annotations (pairs asked), and two pairs of one round may share a clip.
* A clip stays a candidate until every annotator with a head has been asked about it: a clip that has one
  vote may be chosen again, in a later round or the same one, for another annotator. A pair is never
  asked twice.
* A clip is labelled for the clip-level learner (the consensus, the evaluation) once it has >= 1 vote;
  its soft label (Eq. 17) is built from the votes it has.
* The cold start (round 0) has no model to choose an annotator, so it asks every annotator about each of
  its clips, as the other strategies do every round; this gives every annotator's head its first votes.
* Annotators are identified by their evaluator id (``"E2:sad"``), as the heads are; only annotators that
  have a trained head (they have voted before) are asked. A pair the annotator does not answer (the
  simulated evaluator never labelled that clip, or a person wrote ``skip``) is spent: it counts as asked,
  is never asked again, and gives no vote.

The clip-level scores (group entropy Eq. 14, vote variance Eq. 15, mix, and the ACTOR-style averages) keep
asking every annotator about each chosen clip: the paper defines them per clip. ``mix`` adds the clip's
best pair entropy to its group entropy; the paper does not say that it asks one annotator, so it stays
clip-level.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy.special import entr, log_softmax, softmax

VOTE_SEPARATOR = ";"      # an evaluator who gave several labels: "sad;neutral"
EVALUATOR_SEPARATOR = ":"  # a vote keyed by its evaluator: "C-E2:sad"


def _check(annotator_probs: np.ndarray) -> np.ndarray:
    p = np.asarray(annotator_probs, dtype=np.float64)
    if p.ndim != 3:
        raise ValueError(f"annotator_probs must be [n, annotators, classes], got shape {p.shape}")
    return p


def pair_entropies(annotator_probs: np.ndarray) -> np.ndarray:
    """[n, a] entropy (nats) of every (clip, annotator) pair's prediction (Eq. 12)."""
    return entr(_check(annotator_probs)).sum(axis=2)


def individual_entropy(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] Eq. 13 per clip: the highest (clip, annotator) entropy, max_a H[p_a(. | x)]."""
    return pair_entropies(annotator_probs).max(axis=1)


def best_annotator(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] the annotator of each clip's highest-entropy pair (Eq. 13's argmax over a)."""
    return pair_entropies(annotator_probs).argmax(axis=1)


def select_pairs(pair_scores: np.ndarray, open_pairs: np.ndarray, k: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 13 taken k times: the ``k`` open (clip, annotator) pairs with the highest scores.

    pair_scores: [n, a] (e.g. :func:`pair_entropies`); open_pairs: bool [n, a], True where the pair may
    still be asked. Ties are broken by ``rng`` (a random order among equal scores, never the row order).
    Returns ``(clips, annotators)``, each [min(k, open pairs)], highest score first.
    """
    scores = np.asarray(pair_scores, dtype=np.float64)
    open_pairs = np.asarray(open_pairs, dtype=bool)
    if scores.shape != open_pairs.shape or scores.ndim != 2:
        raise ValueError(f"pair_scores {scores.shape} and open_pairs {open_pairs.shape} must both be [n, a]")
    flat = np.flatnonzero(open_pairs.ravel())
    if len(flat) == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    values = scores.ravel()[flat]
    order = np.lexsort((rng.random(len(flat)), -values))[:k]
    clips, who = np.divmod(flat[order], scores.shape[1])
    return clips.astype(np.int64), who.astype(np.int64)


# strategies whose unit of acquisition is a (clip, annotator) pair: name -> the [n, a] pair score
PAIR_SCORES = {"individual_entropy": pair_entropies}


def group_entropy(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] Eq. 14: entropy of softmax(sum_a log p_a), the normalised logits summed over annotators."""
    p = _check(annotator_probs)
    z = log_softmax(np.log(np.maximum(p, 1e-12)), axis=2).sum(axis=1)
    return entr(softmax(z, axis=1)).sum(axis=1)


def vote_variance(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] Eq. 15: variance of the heads' one-hot votes, 1/|A| sum_a ||y^a - mu||^2 = 1 - sum_y v_y^2."""
    p = _check(annotator_probs)
    votes = np.eye(p.shape[2])[p.argmax(axis=2)]          # [n, a, c]
    return ((votes - votes.mean(axis=1, keepdims=True)) ** 2).sum(axis=2).mean(axis=1)


def mixed_entropy(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] the paper's mix: H_indi + H_group."""
    return individual_entropy(annotator_probs) + group_entropy(annotator_probs)


def mean_individual_entropy(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] ACTOR-style: mean over annotators of the entropy of each head's prediction."""
    return pair_entropies(annotator_probs).mean(axis=1)


def mean_group_entropy(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] ACTOR-style: entropy of the mean of the heads' probabilities (the expected vote share)."""
    return entr(_check(annotator_probs).mean(axis=1)).sum(axis=1)


def probability_variance(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] sum over classes of the variance across annotators of p_a(y | x)."""
    return _check(annotator_probs).var(axis=1).sum(axis=1)


def weighted_mix(annotator_probs: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """[n] weight * mean individual + (1 - weight) * mean group entropy, each divided by log(c)."""
    p = _check(annotator_probs)
    scale = np.log(p.shape[2]) if p.shape[2] > 1 else 1.0
    return (weight * mean_individual_entropy(p) + (1.0 - weight) * mean_group_entropy(p)) / scale


def split_vote(vote: str) -> tuple[str | None, list[str]]:
    """``"C-E2:sad;neutral"`` -> ``("C-E2", ["sad", "neutral"])``; ``"sad"`` -> ``(None, ["sad"])``."""
    evaluator, sep, labels = vote.rpartition(EVALUATOR_SEPARATOR)
    return (evaluator if sep else None), [v for v in labels.split(VOTE_SEPARATOR) if v]


def soft_labels(votes: Sequence[Sequence[str]] | Mapping[str, Sequence[str]], classes: Sequence[str],
                smoothing: float = 0.0) -> np.ndarray:
    """Soft labels from evaluators' votes (AFTER Eq. 17): the share of votes for each class.

    An evaluator who gave several labels (``"sad;neutral"``, IEMOCAP allows it) gives one vote per label,
    and an ``"evaluator:"`` prefix is ignored: (sad, sad, sad;neutral) -> sad 3/4, neutral 1/4.
    votes: one list of evaluator labels per item (a mapping id -> votes gives rows in its order).
    classes: the class order of the columns. smoothing: epsilon of label smoothing,
    y = (1 - epsilon) * vote_share + epsilon / c (0 keeps the plain vote distribution).
    Returns [n, c] rows summing to one. Raises ValueError for an empty vote list or an unknown class,
    naming the item.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must lie in [0, 1), got {smoothing}")
    col = {name: j for j, name in enumerate(classes)}
    if len(col) != len(classes) or not classes:
        raise ValueError(f"classes must be non-empty and unique, got {list(classes)}")
    items = list(votes.items()) if isinstance(votes, Mapping) else list(enumerate(votes))
    out = np.zeros((len(items), len(classes)))
    for row, (key, item_votes) in enumerate(items):
        if isinstance(item_votes, str):
            raise ValueError(f"item {key!r}: votes must be a list of labels, got the string {item_votes!r}")
        if len(item_votes) == 0:
            raise ValueError(f"item {key!r} has no votes")
        for vote in item_votes:
            for v in split_vote(vote)[1]:
                if v not in col:
                    raise ValueError(f"item {key!r}: vote {v!r} is not one of the classes {list(classes)}")
                out[row, col[v]] += 1.0
        if out[row].sum() == 0:
            raise ValueError(f"item {key!r} has no votes")
        out[row] /= out[row].sum()
    return (1.0 - smoothing) * out + smoothing / len(classes)
