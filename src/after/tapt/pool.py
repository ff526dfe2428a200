"""The clips TAPT adapts on: a fold's training clips, or every row of a manifest. Labels are never read.

This is where the evaluation wall stands: with folds, only the fold's *train* ids are kept, before any
audio is touched, so no validation or test clip of the fold is ever decoded by TAPT.
A manifest here needs only ``id``, ``path`` and ``duration_s``; an empty ``emotion`` (unlabelled audio,
the user's own recordings) is fine.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from after.data.folds import read_folds
from after.data.manifest import ManifestError
from after.tapt.trainer import Clip, TaptError

NEEDED_COLUMNS = ("id", "path", "duration_s")


def read_audio_list(path: str | Path) -> list[Clip]:
    """Rows of a manifest CSV as :class:`Clip` (paths relative to the manifest's folder made absolute)."""
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"{p}: manifest not found (make one with `after prepare`, or list id,path,duration_s)")
    base = p.parent.resolve()
    clips, seen = [], set()
    with open(p, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in NEEDED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{p}: missing column(s) {', '.join(missing)}; TAPT needs {', '.join(NEEDED_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            try:
                duration = float(row["duration_s"])
            except ValueError:
                raise ManifestError(f"{p}, line {line}: duration_s {row['duration_s']!r} is not a number") from None
            audio = Path(row["path"])
            audio = audio if audio.is_absolute() else base / audio
            if not row["id"] or row["id"] in seen or not duration > 0:
                raise ManifestError(f"{p}, line {line}: an empty or repeated id, or duration_s <= 0 ({row['id']!r})")
            if not audio.is_file():
                raise ManifestError(f"{p}, line {line}: audio file {audio} not found (move the manifest back "
                                    "beside its audio, or re-run `after prepare`)")
            seen.add(row["id"])
            clips.append(Clip(row["id"], str(audio), duration))
    if not clips:
        raise TaptError(f"{p} lists no clips")
    return clips


def fold_train_clips(clips: Sequence[Clip], folds_path: str | Path, fold: int) -> list[Clip]:
    """The clips of fold ``fold``'s *train* split, in manifest order; validation and test are left out."""
    by_index = {f.index: f for f in read_folds(folds_path, known_ids=[c.id for c in clips])}
    if fold not in by_index:
        raise TaptError(f"fold {fold} is not in {folds_path}; the folds are {sorted(by_index)}")
    train = set(by_index[fold].train)
    held_out = set(by_index[fold].val) | set(by_index[fold].test)
    pool = [c for c in clips if c.id in train and c.id not in held_out]
    if not pool:
        raise TaptError(f"fold {fold} of {folds_path} has no training clips in the manifest")
    return pool


def subsample(clips: Sequence[Clip], max_clips: int, seed: int) -> list[Clip]:
    """A seeded random subset of ``max_clips`` clips (manifest order kept); all of them when 0."""
    if max_clips <= 0 or max_clips >= len(clips):
        return list(clips)
    rng = np.random.default_rng([seed, 7919])
    return [clips[i] for i in sorted(rng.choice(len(clips), max_clips, replace=False))]


def pool_hash(clips: Sequence[Clip]) -> str:
    """sha256 over the clips' ids and audio bytes: what the adapted encoder was trained on."""
    h = hashlib.sha256()
    for c in sorted(clips, key=lambda c: c.id):
        h.update(c.id.encode() + b"\0")
        with open(c.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
