"""Oracles: the only source of labels in active learning.

An oracle answers ``query(ids) -> {id: label}``. A label is a hard class name (``str``) or, for
:class:`MultiAnnotatorOracle`, the tuple of every evaluator's vote. :class:`SimulatedOracle` replays a
corpus' ground truth for experiments; :class:`FileOracle` asks real people through a CSV file.
"""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence, Union, runtime_checkable

log = logging.getLogger(__name__)

Label = Union[str, tuple[str, ...]]


@runtime_checkable
class Oracle(Protocol):
    """Gives the label of each requested id."""

    def query(self, ids: Sequence[str]) -> dict[str, Label]:
        ...


class LabelsPending(Exception):
    """Labels were requested from people and are not all filled in yet; re-run once they are."""

    def __init__(self, path: Path, n_pending: int, allowed: Sequence[str]):
        self.path = Path(path)
        self.n_pending = n_pending
        super().__init__(
            f"{n_pending} clip(s) await labels in {self.path}: listen to each clip, write one of "
            f"{', '.join(allowed)} in its `label` column, save the file and re-run the same command.")


def _check_unique(ids: Sequence[str]) -> list[str]:
    ids = list(ids)
    if len(set(ids)) != len(ids):
        raise ValueError("an oracle query must not repeat ids")
    return ids


class SimulatedOracle:
    """Answers from known ground truth ``truth`` {id: label}; the truth is private and every query is logged.

    ``queries`` lists each query's ids in order; ``n_queried`` counts ids ever answered.
    """

    def __init__(self, truth: Mapping[str, Label]):
        self._truth = dict(truth)
        self.queries: list[tuple[str, ...]] = []

    @property
    def n_queried(self) -> int:
        return sum(len(q) for q in self.queries)

    def query(self, ids: Sequence[str]) -> dict[str, Label]:
        ids = _check_unique(ids)
        unknown = [i for i in ids if i not in self._truth]
        if unknown:
            raise KeyError(f"the oracle has no label for id(s) {unknown[:5]}")
        self.queries.append(tuple(ids))
        return {i: self._truth[i] for i in ids}


class MultiAnnotatorOracle(SimulatedOracle):
    """Answers with every evaluator's vote: ``votes`` {id: [label, ...]} -> {id: (label, ...)}."""

    def __init__(self, votes: Mapping[str, Sequence[str]]):
        for i, v in votes.items():
            if isinstance(v, str) or len(v) == 0:
                raise ValueError(f"id {i!r}: votes must be a non-empty list of labels, got {v!r}")
        super().__init__({i: tuple(v) for i, v in votes.items()})


class FileOracle:
    """Labels from people, through a CSV file ``id,path,label``.

    A query appends the requested clips (label empty) to ``path`` and raises :class:`LabelsPending`; once
    every requested row has a label, the same query returns them. Rows are never removed, so the file is
    also the record of every human label. Labels are matched to ``allowed_labels`` ignoring case and
    surrounding spaces; anything else is an error naming the file and line.

    clips: {id: audio path} for every id that may be queried.
    """

    FIELDS = ("id", "path", "label")

    def __init__(self, path: str | Path, clips: Mapping[str, str], allowed_labels: Iterable[str]):
        self.path = Path(path)
        self.clips = dict(clips)
        self.allowed = tuple(allowed_labels)
        if not self.allowed:
            raise ValueError("FileOracle needs at least one allowed label")
        self._canonical = {a.strip().lower(): a for a in self.allowed}

    def _read(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [f for f in self.FIELDS if f not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{self.path}: missing column(s) {missing}; the file needs columns id,path,label")
            return [{k: (row.get(k) or "") for k in self.FIELDS} for row in reader]

    def _write(self, rows: list[dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=self.FIELDS)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.path)

    def query(self, ids: Sequence[str]) -> dict[str, Label]:
        ids = _check_unique(ids)
        unknown = [i for i in ids if i not in self.clips]
        if unknown:
            raise KeyError(f"no audio path known for id(s) {unknown[:5]}")
        rows = self._read()
        line_of = {row["id"]: (line, row) for line, row in enumerate(rows, start=2)}
        new = [i for i in ids if i not in line_of]
        if new:
            rows += [{"id": i, "path": str(self.clips[i]), "label": ""} for i in new]
            self._write(rows)
            log.info("asked for %d label(s) in %s", len(new), self.path)
        answers: dict[str, Label] = {}
        pending = len(new)
        for i in ids:
            if i not in line_of:
                continue
            line, row = line_of[i]
            raw = row["label"].strip()
            if not raw:
                pending += 1
                continue
            if raw.lower() not in self._canonical:
                raise ValueError(f"{self.path}, line {line} (id {i!r}): label {raw!r} is not one of "
                                 f"{', '.join(self.allowed)}; correct it and re-run the same command")
            answers[i] = self._canonical[raw.lower()]
        if pending:
            raise LabelsPending(self.path, pending, self.allowed)
        return answers
