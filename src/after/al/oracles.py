"""Oracles: the only source of labels in active learning.

An oracle answers ``query(ids) -> {id: label}``. A label is a hard class name (``str``) or, for
:class:`MultiAnnotatorOracle`, the tuple of every evaluator's vote. :class:`SimulatedOracle` replays a
corpus' ground truth for experiments; :class:`FileOracle` asks real people through a CSV file.

Oracles of several annotators also answer ``query_pairs(pairs) -> {(id, annotator): answer}``: each
(clip, annotator) pair asks that one annotator only (the paper's individual entropy, Eq. 13; see
:mod:`after.al.annotators`). The answer is the annotator's label (``"sad"``, or several as
``"sad;neutral"`` / a tuple), or ``None`` where the annotator gives none (a simulated evaluator who never
labelled that clip; a person who wrote ``skip``). Annotators are named by their evaluator id, the key of
the vote (``"E2:sad"``) and of the annotator heads.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence, Union, runtime_checkable

from after.al.label_sheet import LabelSheetError, Sheet, read_sheet, write_sheet

log = logging.getLogger(__name__)

Label = Union[str, tuple[str, ...]]
Pair = tuple[str, str]          # (clip id, annotator id)


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


def _check_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    pairs = [(str(i), str(a)) for i, a in pairs]
    if len(set(pairs)) != len(pairs):
        raise ValueError("a pair query must not repeat (clip, annotator) pairs")
    return pairs


class MultiAnnotatorOracle(SimulatedOracle):
    """Answers with every evaluator's vote: ``votes`` {id: [label, ...]} -> {id: (label, ...)}.

    :meth:`query_pairs` answers one evaluator about one clip; it needs votes keyed by evaluator
    (``"E2:sad"``), since the annotator is named by that id. ``pair_queries`` logs each pair query in order.
    """

    def __init__(self, votes: Mapping[str, Sequence[str]]):
        for i, v in votes.items():
            if isinstance(v, str) or len(v) == 0:
                raise ValueError(f"id {i!r}: votes must be a non-empty list of labels, got {v!r}")
        super().__init__({i: tuple(v) for i, v in votes.items()})
        self.pair_queries: list[tuple[Pair, ...]] = []

    @property
    def n_pairs_queried(self) -> int:
        return sum(len(q) for q in self.pair_queries)

    def _vote_of(self, i: str, annotator: str) -> str | None:
        from after.al.annotators import split_vote
        for vote in self._truth[i]:
            evaluator, labels = split_vote(vote)
            if evaluator is None:
                raise ValueError(f"id {i!r}: vote {vote!r} names no evaluator; asking one annotator about a clip "
                                 "needs votes keyed by evaluator ('E2:sad'), as oracle: annotators gives them for "
                                 "learner.kind: annotator_heads")
            if evaluator == annotator and labels:
                return ";".join(labels)
        return None

    def query_pairs(self, pairs: Sequence[Pair]) -> dict[Pair, str | None]:
        """Each pair's vote (``"sad"``, ``"sad;neutral"``), or ``None`` where that evaluator gave none."""
        pairs = _check_pairs(pairs)
        unknown = [i for i, _ in pairs if i not in self._truth]
        if unknown:
            raise KeyError(f"the oracle has no label for id(s) {unknown[:5]}")
        answers = {(i, a): self._vote_of(i, a) for i, a in pairs}
        self.pair_queries.append(tuple(pairs))
        return answers


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

    Several annotators: :meth:`query_pairs` asks one named annotator about a clip; its row carries the
    annotator's id in an ``annotator`` column (added to a sheet that lacks it), so a team can route the clip
    to that person, and rows are matched by (id, annotator). With ``annotators`` (the team's ids), a clip
    query asks each of them in a row of their own and answers the tuple of their keyed votes
    (``("alice:sad", "bob:neutral")``; the clip is skipped only if every one of them skips it). A sheet
    written before the ``annotator`` column existed is read as it is: its rows name no annotator.

    clips: {id: audio path, ``(path, start_s, end_s)`` or manifest row} for every id that may be queried.
    """

    FIELDS = ("id", "path", "label")

    def __init__(self, path: str | Path, clips: Mapping[str, object], allowed_labels: Iterable[str],
                 annotators: Sequence[str] = ()):
        from after.data.audio import as_span
        self.annotators = tuple(str(a) for a in annotators)
        bad = [a for a in self.annotators if not a or ":" in a or a != a.strip()]
        if bad or len(set(self.annotators)) != len(self.annotators):
            raise ValueError(f"annotators must be unique, non-empty ids without ':' or surrounding spaces, "
                             f"got {list(self.annotators)}")
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

    def _read(self) -> tuple[Sheet, dict[Pair, tuple[int, Label]]]:
        """The sheet and, per (id, annotator), ``(line, label)``: the canonical label, or "" while it awaits
        one. A row without an annotator (a clip row, or a sheet without the column) has annotator ""."""
        if not self.path.is_file():
            return Sheet(list(self.FIELDS)), {}
        sheet = read_sheet(self.path, self.FIELDS)
        answers: dict[Pair, tuple[int, Label]] = {}
        for line, row in zip(sheet.lines, sheet.rows):
            key = (row["id"].strip(), row.get("annotator", "").strip())
            label = self._parse(line, key[0], row["label"])
            before = answers.get(key)
            if before is not None and before[1] and label and before[1] != label:
                who = f" by annotator {key[1]!r}" if key[1] else ""
                raise LabelSheetError(
                    f"{self.path}: clip {key[0]!r}{who} has two different labels, {before[1]!r} on line {before[0]} "
                    f"and {label!r} on line {line}; keep one of the two rows and run the same command again")
            if before is None or (label and not before[1]):
                answers[key] = (line, label)
        return sheet, answers

    def check_unchanged(self, used: Mapping[str, tuple[Label, int]]) -> None:
        """Refuse a sheet whose label of a clip differs from the label already used (``{id: (label, round)}``;
        for a row naming an annotator, that annotator's keyed vote inside the used label)."""
        if not self.path.is_file():
            return
        _, answers = self._read()
        for (i, who), (line, label) in answers.items():
            old = used.get(i)
            if not label or old is None or not isinstance(old[0], (str, tuple)):
                continue
            was, now = old[0], label
            if who:            # a pair row: compare with that annotator's vote, if it was used
                was = _vote_by(old[0], who)
                if was is None:
                    continue
                now = _joined(label)
            if was != now:
                raise LabelSheetError(
                    f"{self.path}, line {line}: clip {i!r} now says {label!r}, but it was labelled {was!r} in "
                    f"round {old[1]} and that label has trained the learner since. A label already used is never "
                    f"replaced silently: put {was!r} back on line {line} and run the same command again, or "
                    "start a new run directory to label again with the correction")

    def _row(self, i: str) -> dict[str, str]:
        from after.data.audio import as_span
        span = as_span(self.clips[i])
        fmt = lambda v: "" if v is None else f"{v:.3f}"   # noqa: E731
        details = {k: str(v) for k, v in self._details.get(i, {}).items() if k in DETAIL_COLUMNS}
        return {**details, "id": i, "path": str(Path(span.path).resolve()), "start_s": fmt(span.start_s),
                "end_s": fmt(span.end_s)}

    def _ask(self, keys: list[Pair]) -> dict[Pair, Label]:
        """Append the rows of ``keys`` not yet on the sheet; the answers given so far (key -> label)."""
        unknown = [i for i, _ in keys if i not in self.clips]
        if unknown:
            raise KeyError(f"no audio path known for id(s) {unknown[:5]}")
        sheet, known = self._read()
        new = [k for k in keys if k not in known]
        if new:
            if not sheet.rows:     # a new sheet: the label column last, after what a person reads
                sheet.fields = ["id", "path", *DETAIL_COLUMNS, *(f for f in sheet.fields if f not in
                                                                ("id", "path", "label", *DETAIL_COLUMNS)), "label"]
            if any(a for _, a in new) and "annotator" not in sheet.fields:
                sheet.fields.insert(sheet.fields.index("id") + 1, "annotator")   # who is asked, beside the id
            blank = dict.fromkeys(sheet.fields, "")     # a sheet kept from before shows the columns it has
            for i, a in new:
                row = {**self._row(i), **({"annotator": a} if a else {})}
                sheet.rows.append({**blank, **{k: v for k, v in row.items() if k in blank}})
            write_sheet(self.path, sheet)
            log.info("asked for %d label(s) in %s", len(new), self.path)
        return {k: known[k][1] for k in keys if k in known and known[k][1]}

    def query(self, ids: Sequence[str]) -> dict[str, Label]:
        ids = _check_unique(ids)
        if self.annotators:
            return self._query_team(ids)
        answers = {i: v for (i, _), v in self._ask([(i, "") for i in ids]).items()}
        pending = len(ids) - len(answers)
        if pending:
            raise LabelsPending(self.path, pending, self.allowed)
        return answers

    def _query_team(self, ids: list[str]) -> dict[str, Label]:
        """Every annotator of the roster about every clip: the tuple of their keyed votes per clip."""
        from after.al.pool import Skipped
        keys = [(i, a) for i in ids for a in self.annotators]
        got = self._ask(keys)
        if len(got) < len(keys):
            raise LabelsPending(self.path, len(keys) - len(got), self.allowed)
        out: dict[str, Label] = {}
        for i in ids:
            votes = tuple(f"{a}:{_joined(got[(i, a)])}" for a in self.annotators
                          if not isinstance(got[(i, a)], Skipped))
            out[i] = votes or Skipped("skip")
        return out

    def query_pairs(self, pairs: Sequence[Pair]) -> dict[Pair, str | None]:
        """Ask each named annotator about their clip (one row per pair); ``None`` for a pair answered
        skip/unsure. Raises :class:`LabelsPending` until every pair's row has a label."""
        from after.al.pool import Skipped
        pairs = _check_pairs(pairs)
        if any(not a for _, a in pairs):
            raise ValueError("a pair query must name the annotator of every pair")
        got = self._ask(pairs)
        if len(got) < len(pairs):
            raise LabelsPending(self.path, len(pairs) - len(got), self.allowed)
        return {k: None if isinstance(v, Skipped) else _joined(v) for k, v in got.items()}


def _joined(label: Label) -> str:
    return label if isinstance(label, str) else ";".join(label)


def _vote_by(label: Label, annotator: str) -> str | None:
    """The label part of ``annotator``'s keyed vote inside a used label, or None if they gave none."""
    from after.al.annotators import split_vote
    for vote in (label,) if isinstance(label, str) else label:
        who, names = split_vote(vote)
        if who == annotator:
            return ";".join(names)
    return None

