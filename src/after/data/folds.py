"""Fold files: a long CSV ``id,fold,split`` with split in {train, val, test}, one row per utterance and fold.

Folds are stored once and read back, never silently recomputed. The splitting algorithms live in
:mod:`after.data.splits`.
"""
from __future__ import annotations

from after.atomic import atomic_open
from after.errors import AfterError

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    from after.data.manifest import Manifest

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
    with atomic_open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "fold", "split"])
        for f in folds:
            for split in SPLITS:
                for i in f.ids(split):
                    w.writerow([i, f.index, split])
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


def check_folds(folds: Sequence[Fold], manifest: "Manifest", by: str = "speaker", source: str | Path = "folds",
                required: Sequence[str] | None = None) -> None:
    """Refuse folds that do not fit ``manifest`` (the manifest they were made from).

    Errors, with counts and examples: ids the manifest does not have; rows a fold leaves out of all of its
    splits (every manifest row, or only the ``required`` ids: the rows a label map keeps, since folds may be
    made before or after the map); a ``by`` group (speaker, or session) in the test split of a fold and also
    in its training or validation split. ``source`` names the folds file in the messages.
    """
    if by not in ("speaker", "session"):
        raise FoldsError(f"folds are kept apart by speaker or session, not {by!r}")
    known = set(manifest.ids)
    seen = {i for f in folds for s in SPLITS for i in f.ids(s)}
    unknown = sorted(seen - known)
    if unknown:
        raise FoldsError(f"{source}: {len(unknown)} id(s) are not in the manifest {manifest.source or ''}, e.g. "
                         f"{_examples(unknown)}; were the folds made from another manifest? Make them again with "
                         "`after split MANIFEST -o FOLDS` (a new file)")
    for f in folds:
        covered = {*f.train, *f.val, *f.test}
        left_out = [i for i in (manifest.ids if required is None else required) if i not in covered]
        if left_out:
            raise FoldsError(f"{source}: fold {f.index} leaves {len(left_out)} of {len(known)} manifest rows out of "
                             f"train, val and test, e.g. {_examples(left_out)}; were the folds made from another "
                             "manifest? Make them again with `after split MANIFEST -o FOLDS` (a new file)")
    group = {u.id: (getattr(u, by) or u.speaker) for u in manifest}
    for f in folds:
        test = {group[i] for i in f.test}
        shared = sorted(test & {group[i] for i in (*f.train, *f.val)})
        if shared:
            n_rows = sum(group[i] in test for i in (*f.train, *f.val))
            raise FoldsError(f"{source}: fold {f.index} is not {by}-independent: {len(shared)} {by}(s) are in its "
                             f"test split and also in training or validation ({n_rows} rows), e.g. "
                             f"{_examples(shared)}; a {by} must be in one split of a fold only. Make the folds again "
                             f"with `after split MANIFEST --by {by} -o FOLDS` (a new file)")


def _examples(items: Sequence[str], n: int = 3) -> str:
    return ", ".join(repr(i) for i in items[:n]) + (", ..." if len(items) > n else "")
