"""Oracles: the only source of labels in active learning.

An oracle answers ``query(ids) -> {id: label}``. A label is a hard class name (``str``) or, for
:class:`MultiAnnotatorOracle`, the tuple of every evaluator's vote. :class:`SimulatedOracle` replays a
corpus' ground truth for experiments; :class:`FileOracle` asks real people through a CSV file.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence, Union, runtime_checkable

from after.al.label_sheet import LabelSheetError, Sheet, read_sheet, write_sheet

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
    surrounding spaces; anything else is an error naming the file and line. The file may come back from a
    spreadsheet program (UTF-8 with a byte-order mark, ``;`` separators, Latin-1; see
    :mod:`after.al.label_sheet`), and columns people add are kept.

    Two rows of one clip with different labels are refused, naming both lines; so is a label changed after
    it was used (:meth:`check_unchanged`): a label that trained the learner is never replaced silently.

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

    def _read(self) -> tuple[Sheet, dict[str, tuple[int, str]]]:
        """The sheet and, per id, ``(line, label)``: the canonical label, or "" while it awaits one."""
        if not self.path.is_file():
            return Sheet(list(self.FIELDS)), {}
        sheet = read_sheet(self.path, self.FIELDS)
        answers: dict[str, tuple[int, str]] = {}
        for line, row in zip(sheet.lines, sheet.rows):
            i, raw = row["id"].strip(), row["label"].strip()
            if raw and raw.lower() not in self._canonical:
                raise LabelSheetError(f"{self.path}, line {line} (id {i!r}): label {raw!r} is not one of "
                                      f"{', '.join(self.allowed)}; correct it and run the same command again")
            label = self._canonical[raw.lower()] if raw else ""
            before = answers.get(i)
            if before is not None and before[1] and label and before[1] != label:
                raise LabelSheetError(
                    f"{self.path}: clip {i!r} has two different labels, {before[1]!r} on line {before[0]} and "
                    f"{label!r} on line {line}; keep one of the two rows and run the same command again")
            if before is None or (label and not before[1]):
                answers[i] = (line, label)
        return sheet, answers

    def check_unchanged(self, used: Mapping[str, tuple[Label, int]]) -> None:
        """Refuse a sheet whose label of a clip differs from the label already used (``{id: (label, round)}``)."""
        if not self.path.is_file():
            return
        _, answers = self._read()
        for i, (line, label) in answers.items():
            old = used.get(i)
            if label and old is not None and isinstance(old[0], str) and old[0] != label:
                raise LabelSheetError(
                    f"{self.path}, line {line}: clip {i!r} now says {label!r}, but it was labelled {old[0]!r} in "
                    f"round {old[1]} and that label has trained the learner since. A label already used is never "
                    f"replaced silently: put {old[0]!r} back on line {line} and run the same command again, or "
                    "start a new run directory to label again with the correction")

    def query(self, ids: Sequence[str]) -> dict[str, Label]:
        ids = _check_unique(ids)
        unknown = [i for i in ids if i not in self.clips]
        if unknown:
            raise KeyError(f"no audio path known for id(s) {unknown[:5]}")
        sheet, known = self._read()
        new = [i for i in ids if i not in known]
        if new:
            blank = dict.fromkeys(sheet.fields, "")
            sheet.rows += [{**blank, "id": i, "path": str(self.clips[i])} for i in new]
            write_sheet(self.path, sheet)
            log.info("asked for %d label(s) in %s", len(new), self.path)
        answers = {i: known[i][1] for i in ids if i in known and known[i][1]}
        pending = len(ids) - len(answers)
        if pending:
            raise LabelsPending(self.path, pending, self.allowed)
        return answers
