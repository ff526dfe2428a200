"""Fold files: a long CSV ``id,fold,split`` with split in {train, val, test}, one row per utterance and fold.

Folds are stored once and read back, never silently recomputed. The splitting algorithms live in
:mod:`after.data.splits`.
"""
from __future__ import annotations

from after.errors import AfterError

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

SPLITS = ("train", "val", "test")


class FoldsError(AfterError, ValueError):
    """A fold file that breaks the contract; the message names the file."""


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: disjoint id tuples."""

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def ids(self, split: str) -> tuple[str, ...]:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return getattr(self, split)


def write_folds(folds: Iterable[Fold], path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "fold", "split"])
        for f in folds:
            for split in SPLITS:
                for i in f.ids(split):
                    w.writerow([i, f.index, split])
    os.replace(tmp, out)
    return out


def read_folds(path: str | Path, known_ids: Iterable[str] | None = None) -> list[Fold]:
    """Read a fold file; with ``known_ids`` every id must be in the manifest."""
    p = Path(path)
    if not p.is_file():
        raise FoldsError(f"{p}: fold file not found (create it with `after split MANIFEST -o {p}`)")
    per_fold: dict[int, dict[str, list[str]]] = {}
    seen: set[tuple[int, str]] = set()
    with open(p, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"id", "fold", "split"} <= set(reader.fieldnames):
            raise FoldsError(f"{p}: needs the columns id,fold,split")
        for line, row in enumerate(reader, start=2):
            split = row["split"]
            if split not in SPLITS:
                raise FoldsError(f"{p}, line {line}: split {split!r} is not one of {SPLITS}")
            try:
                k = int(row["fold"])
            except ValueError:
                raise FoldsError(f"{p}, line {line}: fold {row['fold']!r} is not an integer") from None
            if (k, row["id"]) in seen:
                raise FoldsError(f"{p}, line {line}: id {row['id']!r} appears twice in fold {k}")
            seen.add((k, row["id"]))
            per_fold.setdefault(k, {s: [] for s in SPLITS})[split].append(row["id"])
    if known_ids is not None:
        known = set(known_ids)
        unknown = sorted({i for (_, i) in seen} - known)
        if unknown:
            raise FoldsError(f"{p}: {len(unknown)} id(s) not in the manifest, e.g. {unknown[:3]} "
                             "(were the folds made from another manifest?)")
    return [Fold(k, tuple(d["train"]), tuple(d["val"]), tuple(d["test"])) for k, d in sorted(per_fold.items())]
