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
        self.allowed = tuple(allowed)
        super().__init__(
            f"{n_pending} clip(s) await labels in {self.path}: listen to each clip (path; start_s-end_s when it is "
            f"a segment), write one of {', '.join(allowed)} in its `label` column (several as votes, e.g. "
            f"sad;neutral; or unsure, or skip), save the file and re-run the same command.")


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


SKIP_ANSWERS = ("skip", "unsure")
VOTE_SEPARATORS = (";", "|", ",")
DETAIL_COLUMNS = ("start_s", "end_s", "round", "rank", "score", "predicted", "probability", "stratum")


class FileOracle:
    """Labels from people, through a CSV file ``id,path,start_s,end_s,round,rank,score,predicted,probability,
    stratum,label``.

    ``path`` is the playable audio file (absolute); ``start_s``/``end_s`` the span to listen to when the clip
    is a segment of a longer recording (empty for whole files). ``round`` is the round that asks (``val``
    for validation clips bought from the pool), ``rank`` the clip's place in that round's choice, ``score``
    the strategy's score (empty for the cold start, which has none), ``predicted``/``probability`` the
    model's label and its probability (empty in the cold start: no model yet), ``stratum`` the clip's group
    when the run is stratified. A person writes in ``label``: one class; several (``sad;neutral``, also
    ``|``- or ``,``-separated), kept as votes; or ``unsure``/``skip``, which labels nothing: the clip leaves
    the pool for this run and is not replaced (see :class:`~after.al.pool.Skipped`).

    A query appends the requested clips (label empty) to ``path`` and raises :class:`LabelsPending`; once
    every requested row has a label, the same query returns them. Rows are never removed, so the file is
    also the record of every human label. Labels are matched to ``allowed_labels`` ignoring case and
    surrounding spaces; anything else is an error naming the file and line. The file may come back from a
    spreadsheet program (UTF-8 with a byte-order mark, ``;`` separators, Latin-1; see
    :mod:`after.al.label_sheet`), and columns people add are kept.

    Two rows of one clip with different labels are refused, naming both lines; so is a label changed after
    it was used (:meth:`check_unchanged`): a label that trained the learner is never replaced silently.

    clips: {id: audio path, ``(path, start_s, end_s)`` or manifest row} for every id that may be queried.
    """

    FIELDS = ("id", "path", "label")

    def __init__(self, path: str | Path, clips: Mapping[str, object], allowed_labels: Iterable[str]):
        from after.data.audio import as_span
        self.path = Path(path)
        self.clips = {i: as_span(c) for i, c in clips.items()}
        self.allowed = tuple(allowed_labels)
        if not self.allowed:
            raise ValueError("FileOracle needs at least one allowed label")
        clash = [a for a in self.allowed if a.strip().lower() in SKIP_ANSWERS]
        if clash:
            raise ValueError(f"class {clash[0]!r} is a reserved answer of the label sheet ({', '.join(SKIP_ANSWERS)})")
        self._canonical = {a.strip().lower(): a for a in self.allowed}
        self._details: dict[str, Mapping[str, str]] = {}

    def set_details(self, details: Mapping[str, Mapping[str, str]]) -> None:
        """Columns shown beside clips asked for from now on (``{id: {column: value}}``; see the class doc)."""
        self._details.update(details)

    def _parse(self, line: int, i: str, raw: str):
        """A cell as typed -> "" (awaiting), a class, a tuple of votes or a :class:`Skipped`; else an error."""
        from after.al.pool import Skipped
        raw = raw.strip()
        if not raw:
            return ""
        if raw.lower() in SKIP_ANSWERS:
            return Skipped(raw.lower())
        parts = [raw]
        for sep in VOTE_SEPARATORS:
            if sep in raw:
                parts = [p.strip() for p in raw.split(sep) if p.strip()]
                break
        bad = [p for p in parts if p.lower() not in self._canonical]
        if bad:
            what = "stand alone (no votes beside them)" if any(b.lower() in SKIP_ANSWERS for b in bad) else ""
            raise LabelSheetError(
                f"{self.path}, line {line} (id {i!r}): label {raw!r} is not "
                + (f"usable: {', '.join(SKIP_ANSWERS)} must {what}" if what else
                   f"one of {', '.join(self.allowed)} (or several separated by ';', or {' / '.join(SKIP_ANSWERS)})")
                + "; correct it and run the same command again (the labels already given are kept)")
        votes = tuple(self._canonical[p.lower()] for p in parts)
        return votes[0] if len(votes) == 1 else votes

    def _read(self) -> tuple[Sheet, dict[str, tuple[int, str]]]:
        """The sheet and, per id, ``(line, label)``: the canonical label, or "" while it awaits one."""
        if not self.path.is_file():
            return Sheet(list(self.FIELDS)), {}
        sheet = read_sheet(self.path, self.FIELDS)
        answers: dict[str, tuple[int, str]] = {}
        for line, row in zip(sheet.lines, sheet.rows):
            i = row["id"].strip()
            label = self._parse(line, i, row["label"])
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
            if label and old is not None and isinstance(old[0], (str, tuple)) and old[0] != label:
                raise LabelSheetError(
                    f"{self.path}, line {line}: clip {i!r} now says {label!r}, but it was labelled {old[0]!r} in "
                    f"round {old[1]} and that label has trained the learner since. A label already used is never "
                    f"replaced silently: put {old[0]!r} back on line {line} and run the same command again, or "
                    "start a new run directory to label again with the correction")

    def _row(self, i: str) -> dict[str, str]:
        from after.data.audio import as_span
        span = as_span(self.clips[i])
        fmt = lambda v: "" if v is None else f"{v:.3f}"   # noqa: E731
        details = {k: str(v) for k, v in self._details.get(i, {}).items() if k in DETAIL_COLUMNS}
        return {**details, "id": i, "path": str(Path(span.path).resolve()), "start_s": fmt(span.start_s),
                "end_s": fmt(span.end_s)}

    def query(self, ids: Sequence[str]) -> dict[str, Label]:
        ids = _check_unique(ids)
        unknown = [i for i in ids if i not in self.clips]
        if unknown:
            raise KeyError(f"no audio path known for id(s) {unknown[:5]}")
        sheet, known = self._read()
        new = [i for i in ids if i not in known]
        if new:
            if not sheet.rows:     # a new sheet: the label column last, after what a person reads
                sheet.fields = ["id", "path", *DETAIL_COLUMNS, *(f for f in sheet.fields if f not in
                                                                ("id", "path", "label", *DETAIL_COLUMNS)), "label"]
            blank = dict.fromkeys(sheet.fields, "")     # a sheet kept from before shows the columns it has
            sheet.rows += [{**blank, **{k: v for k, v in self._row(i).items() if k in blank}} for i in new]
            write_sheet(self.path, sheet)
            log.info("asked for %d label(s) in %s", len(new), self.path)
        answers = {i: known[i][1] for i in ids if i in known and known[i][1]}
        pending = len(ids) - len(answers)
        if pending:
            raise LabelsPending(self.path, pending, self.allowed)
        return answers
