"""Annotator-aware acquisition scores and soft labels (AFTER extension, Li et al. 2024, arXiv 2405.00307).

IEMOCAP and similar corpora give each clip several evaluators' labels. The AFTER extension trains with the
vote distribution as a soft label and compares annotator-aware selection criteria named individual
entropy, group entropy, vote variance and their mix. Those names follow ACTOR (Wang & Plank 2023,
"Active Learning with Annotator-specific Classification Heads", arXiv 2310.14979), where the model has one
classification head per annotator. The exact equations of 2405.00307 could not be retrieved while this
module was written, so the definitions below are the natural ones in that setting, stated precisely:

All scores take ``annotator_probs`` [n, a, c]: p_a(y | x), the prediction of the head for annotator a.

* individual entropy  u_ind(x)  = 1/a sum_a H[p_a(. | x)]         (how unsure each annotator's model is)
* group entropy       u_grp(x)  = H[q(. | x)],  q = 1/a sum_a p_a  (entropy of the expected vote share,
                                                                   i.e. of the predicted soft label)
* vote variance       u_var(x)  = sum_y Var_a[p_a(y | x)]          (how much the annotators disagree;
                                                                   for one-hot heads it is 1 - sum_y q_y^2)
* mix                 u_mix(x)  = w u_ind / log c + (1 - w) u_grp / log c   (both scaled to [0, 1])

u_grp - u_ind is the mutual information between the label and the annotator identity, so group entropy
rewards both model uncertainty and disagreement, individual entropy only the former, vote variance only
the latter. Only numpy here; the Strategy wrappers live in :mod:`after.al.strategies`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy.special import entr


def _check(annotator_probs: np.ndarray) -> np.ndarray:
    p = np.asarray(annotator_probs, dtype=np.float64)
    if p.ndim != 3:
        raise ValueError(f"annotator_probs must be [n, annotators, classes], got shape {p.shape}")
    return p


def individual_entropy(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] mean over annotators of the entropy (nats) of each annotator head's prediction."""
    return entr(_check(annotator_probs)).sum(axis=2).mean(axis=1)


def group_entropy(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] entropy (nats) of the predicted group vote distribution q = mean over annotators of p_a."""
    return entr(_check(annotator_probs).mean(axis=1)).sum(axis=1)


def vote_variance(annotator_probs: np.ndarray) -> np.ndarray:
    """[n] sum over classes of the variance across annotators of p_a(y | x)."""
    return _check(annotator_probs).var(axis=1).sum(axis=1)


def mixed_entropy(annotator_probs: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """[n] weight * individual + (1 - weight) * group entropy, each divided by log(c) to lie in [0, 1]."""
    p = _check(annotator_probs)
    scale = np.log(p.shape[2]) if p.shape[2] > 1 else 1.0
    return (weight * individual_entropy(p) + (1.0 - weight) * group_entropy(p)) / scale


def soft_labels(votes: Sequence[Sequence[str]] | Mapping[str, Sequence[str]], classes: Sequence[str],
                smoothing: float = 0.0) -> np.ndarray:
    """Soft labels from evaluators' votes (AFTER Eq. 17): the share of votes for each class.

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
        for v in item_votes:
            if v not in col:
                raise ValueError(f"item {key!r}: vote {v!r} is not one of the classes {list(classes)}")
            out[row, col[v]] += 1.0
        out[row] /= len(item_votes)
    return (1.0 - smoothing) * out + smoothing / len(classes)
