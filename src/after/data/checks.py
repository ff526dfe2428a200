"""Warnings about a manifest about to be written: what would make later stages weak or fail.

A manifest whose labelled rows hold a single class cannot train a classifier; a clip shorter than the
encoder's receptive field (:data:`MIN_CLIP_S`) gives it less than one frame to look at.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from after.data.manifest import Manifest

# Whisper's encoder sees 20 ms frames after two stride-2 convolutions, wav2vec2-style encoders a 25 ms
# receptive field every 20 ms; below 0.1 s a clip yields a handful of frames at best.
MIN_CLIP_S = 0.1


def manifest_warnings(manifest: Manifest, min_clip_s: float = MIN_CLIP_S) -> list[str]:
    """Plain-language warnings (empty when nothing is wrong); the CLI prints them."""
    out = []
    labels = manifest.labels()
    if len(labels) == 1:
        out.append(f"every labelled row has the one class {labels[0]!r}: a classifier needs at least 2 "
                   "(check the label map, or merge with another corpus)")
    by_case: dict[str, list[str]] = {}
    for label in labels:
        by_case.setdefault(label.lower(), []).append(label)
    for same in (v for v in by_case.values() if len(v) > 1):
        out.append(f"labels {', '.join(same)} differ only in case and count as different classes; map them onto "
                   "one with --labels map.yaml")
    short = [u for u in manifest if u.duration_s < min_clip_s]
    if short:
        shown = ", ".join(f"{u.id} ({u.duration_s:.3f} s)" for u in short[:5]) + (" ..." if len(short) > 5 else "")
        out.append(f"{len(short)} clip(s) are shorter than {min_clip_s} s, the encoder's receptive field: "
                   f"{shown}; they carry almost no signal (drop them, or segment with a larger --min-segment-s)")
    return out


def disjoint_vocabularies(manifests: Sequence[Manifest]) -> list[str]:
    """A warning per input whose label set shares no label with the other inputs (before any label map)."""
    sets = [set(m.labels()) for m in manifests]
    out = []
    for k, own in enumerate(sets):
        others = set().union(*(s for j, s in enumerate(sets) if j != k))
        if own and others and not own & others:
            name = manifests[k].source or f"input {k + 1}"
            out.append(f"{name} shares no label with the other manifests ({', '.join(sorted(own))} vs "
                       f"{', '.join(sorted(others))}): map them onto common classes with --labels")
    return out


def label_counts(manifest: Manifest) -> str:
    """``"120 labelled, 30 unlabelled"``: how a summary line counts rows."""
    n = Counter(u.is_labelled for u in manifest)
    return f"{n[True]} labelled, {n[False]} unlabelled"
