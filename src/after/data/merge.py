"""Merge manifests of several corpora into one, through a label map, optionally class-balanced.

Each utterance keeps its ``corpus`` column, so results can still be broken down by source corpus.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from after.data.checks import disjoint_vocabularies
from after.data.labels import LabelMap, apply_label_map
from after.data.manifest import Manifest, ManifestError, require_labelled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MergeResult:
    """``dropped``: emotions removed by the label map; ``removed_by_balance``: per-class downsampling;
    ``notes``: warnings for the user (inputs whose label vocabularies share nothing)."""

    manifest: Manifest
    dropped: Counter
    removed_by_balance: Counter
    notes: tuple[str, ...] = ()


def _check_disjoint(manifests: Sequence[Manifest]) -> None:
    seen: dict[str, int] = {}
    for k, m in enumerate(manifests):
        for uid in m.ids:
            if uid in seen:
                first = manifests[seen[uid]].source or f"input {seen[uid] + 1}"
                second = m.source or f"input {k + 1}"
                raise ManifestError(f"utterance id {uid!r} is in both {first} and {second}; ids must be unique "
                                    "across merged manifests (was the same corpus prepared twice?)")
            seen[uid] = k


def balance_classes(manifest: Manifest, seed: int) -> tuple[Manifest, Counter]:
    """Downsample every emotion to the size of the smallest one; same seed, same subset, order kept.

    Refuses a manifest with unlabelled rows (naming them): their class is unknown, so no balance exists.
    """
    require_labelled(manifest, "--balance")
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, u in enumerate(manifest):
        by_class[u.emotion].append(i)
    if not by_class:
        return manifest, Counter()
    smallest = min(len(v) for v in by_class.values())
    rng = np.random.default_rng(seed)
    keep: set[int] = set()
    removed: Counter = Counter()
    for emotion in sorted(by_class):
        rows = by_class[emotion]
        keep.update(rng.choice(rows, size=smallest, replace=False).tolist())
        removed[emotion] = len(rows) - smallest
    return Manifest((u for i, u in enumerate(manifest) if i in keep), manifest.source), +removed


def merge_manifests(manifests: Sequence[Manifest], label_map: LabelMap, balance: bool = False,
                    seed: int = 0) -> MergeResult:
    """Concatenate ``manifests`` in order, relabel with ``label_map``, then (``balance``) downsample.

    Raises ManifestError naming both files when an id occurs in two inputs. Unlabelled rows pass through
    the label map; ``balance`` refuses them.
    """
    if not manifests:
        raise ValueError("nothing to merge: give at least one manifest")
    _check_disjoint(manifests)
    notes = tuple(disjoint_vocabularies(manifests))
    for note in notes:
        log.warning("%s", note)
    merged = Manifest(u for m in manifests for u in m)
    relabelled, dropped = apply_label_map(merged, label_map)
    if len(relabelled) == 0 or (len(merged.labelled()) and not len(relabelled.labelled())):
        raise ValueError(f"label map {label_map.name!r} dropped every utterance "
                         f"(labels present: {', '.join(merged.labels())})")
    removed: Counter = Counter()
    if balance:
        relabelled, removed = balance_classes(relabelled, seed)
        log.info("balanced to %d utterances per class (seed %d)", len(relabelled) // len(relabelled.labels()), seed)
    return MergeResult(relabelled, dropped, removed, notes)
