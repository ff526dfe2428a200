"""Feature standardisation of frozen embeddings: one global set of statistics, or one per corpus / speaker.

``normalize: global`` (the default, the behaviour before this option existed): every row is standardised
with the mean and std (per layer and dimension) of the reference rows the caller allows (the training rows
of ``after train``, the unlabelled pool of ``after al``).

``normalize: corpus`` / ``speaker``: every row is standardised with the mean and std of *its own group's
rows*, all of them, the group's validation and test clips included. This is the cheap unsupervised
adaptation that task-adaptive pre-training has to beat: a new corpus or speaker is shifted and scaled onto
the others using only its **audio** (the embeddings of its clips), never a label; the statistics are
computed before and independently of any label. It is the standard speaker/corpus normalisation of SER
papers, and it is what a user can do with a new speaker's recordings before labelling any of them. It
does assume that the test group's clips are all available at once (transductive over audio).

A group with fewer than ``MIN_GROUP_ROWS`` rows has no usable std; it falls back to the global statistics.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from after.config import ConfigError

NORMALIZE_MODES = ("global", "corpus", "speaker")
MIN_GROUP_ROWS = 2
STD_FLOOR = 1e-6


def statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` over rows of ``x [n, L, D]``, each ``[L, D]``; std floored at ``STD_FLOOR``."""
    return x.mean(0), np.maximum(x.std(0), STD_FLOOR)


def standardise(x: np.ndarray, mode: str, ref_idx: np.ndarray | None = None,
                groups: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x standardised, global mean, global std)`` for ``x [N, L, D]``.

    The global statistics come from rows ``ref_idx`` (all rows when None) and are returned in every mode
    (model bundles keep them). With ``mode`` corpus or speaker, ``groups[i]`` names row i's corpus or
    speaker and each row is standardised with its group's statistics over all its rows. Labels are not
    an argument: nothing here can depend on them.
    """
    if mode not in NORMALIZE_MODES:
        raise ConfigError(f"normalize: {mode!r} is not one of {', '.join(NORMALIZE_MODES)}")
    ref = x if ref_idx is None else x[np.asarray(ref_idx)]
    mean, std = statistics(ref)
    if mode == "global":   # one new [N, L, D] array, divided in place (not a second temporary copy)
        out = x - mean
        out /= std
        return out, mean, std
    if groups is None or len(groups) != len(x):
        raise ConfigError(f"normalize: {mode} needs the {mode} of every row ({len(x)} rows, "
                          f"{'none' if groups is None else len(groups)} given); use normalize: global "
                          "where the rows have no such column")
    keys = np.asarray([str(g) for g in groups])
    out = np.empty_like(x)
    for g in np.unique(keys):
        rows = np.flatnonzero(keys == g)
        m, s = statistics(x[rows]) if len(rows) >= MIN_GROUP_ROWS else (mean, std)
        out[rows] = (x[rows] - m) / s
    return out, mean, std


def norm_groups(utterances: Iterable, normalize: str) -> list[str] | None:
    """Each utterance's group for ``normalize`` (None for global): its corpus, or its speaker keyed with
    its corpus (two corpora's "spk01" never share statistics). Only these columns are read, never emotion."""
    if normalize == "corpus":
        return [u.corpus for u in utterances]
    if normalize == "speaker":
        return [f"{u.corpus}/{u.speaker}" for u in utterances]
    return None
