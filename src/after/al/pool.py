"""The label pool: which clips are labelled, with what, and in which round.

The pool is the only door to labels. It holds the candidate ids and an oracle; a label enters only through
:meth:`LabelPool.label`, which asks the oracle, and :meth:`LabelPool.labels_for` refuses any id not yet
labelled. The manifest is never touched: the pool stores ids, and its state is a JSON file written
atomically (:mod:`after.atomic`) so an interrupted run resumes where it stopped.

Several annotators, asked one at a time (the paper's individual entropy, Eq. 13): :meth:`LabelPool.label_pairs`
asks an oracle's ``query_pairs`` for (clip, annotator) pairs. Each answered pair adds that annotator's keyed
vote (``"E2:sad"``) to the clip's label, a tuple of votes that grows; the clip counts as labelled from its
first vote. Every pair asked is recorded (``asked_pairs``, in ``pool.json`` under ``pairs``), answered or not,
and is never asked again; a clip labelled by a clip-level :meth:`LabelPool.label` had every annotator asked.
"""
from __future__ import annotations

from after.errors import AfterError, StateFileError

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

from after.al.oracles import Oracle
from after.atomic import atomic_write_text

log = logging.getLogger(__name__)

# hard class name | every evaluator's vote | a distribution over classes
PoolLabel = Union[str, tuple[str, ...], Mapping[str, float]]
FORMAT_VERSION = 1


class PoolError(AfterError, ValueError):
    """A request the pool refuses (unknown id, unlabelled id, relabelling, mismatched state file)."""


class Skipped(str):
    """An oracle's answer that labels nothing: a person wrote ``skip`` or ``unsure``.

    The clip leaves the pool for the rest of the run (it is never asked for again), is not a label, and is
    not counted among the labelled clips; the round it was chosen in trains on the others (it is not
    replaced by another clip).
    """

    def __repr__(self) -> str:
        return str.__repr__(str(self))


@dataclass(frozen=True)
class LabelRecord:
    id: str
    label: PoolLabel
    round: int


@dataclass(frozen=True)
class PairRecord:
    """One (clip, annotator) pair asked: the annotator's vote (``"sad"``, ``"sad;neutral"``) or None."""
    id: str
    annotator: str
    vote: str | None
    round: int


def _normalise_label(i: str, label: object) -> PoolLabel:
    if isinstance(label, str):
        if not label:
            raise PoolError(f"the oracle returned an empty label for id {i!r}")
        return label
    if isinstance(label, Mapping):
        dist = {str(k): float(v) for k, v in label.items()}
        if not dist or any(v < 0 for v in dist.values()) or abs(sum(dist.values()) - 1.0) > 1e-6:
            raise PoolError(f"soft label for id {i!r} must be non-negative and sum to 1, got {dist}")
        return dist
    if isinstance(label, (list, tuple)) and label and all(isinstance(v, str) and v for v in label):
        return tuple(label)
    raise PoolError(f"the oracle returned an unusable label for id {i!r}: {label!r}")


class LabelPool:
    """Candidate ids split into labelled and unlabelled, labels obtained only from ``oracle``.

    ids: every candidate id (unique; order is kept). path: if given, the state is saved there after every
    :meth:`label` call.
    """

    def __init__(self, ids: Iterable[str], oracle: Oracle, path: str | Path | None = None):
        self._ids = tuple(ids)
        if len(set(self._ids)) != len(self._ids):
            raise PoolError("pool ids must be unique")
        self._oracle = oracle
        self._records: dict[str, LabelRecord] = {}
        self._skipped: dict[str, LabelRecord] = {}      # answered skip/unsure: out of the pool, not labelled
        self._pairs: dict[tuple[str, str], PairRecord] = {}   # (clip, annotator) pairs asked one by one
        self._paired: set[str] = set()                  # clips with a pair asked: not asked of everyone
        self.path = Path(path) if path is not None else None
        self.wants_details = callable(getattr(oracle, "set_details", None))

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> tuple[str, ...]:
        return self._ids

    def labelled_ids(self) -> list[str]:
        """Labelled ids in the order they were labelled."""
        return list(self._records)

    def unlabelled_ids(self) -> list[str]:
        """Unlabelled ids in pool order (clips answered skip/unsure are out of the pool)."""
        return [i for i in self._ids if i not in self._records and i not in self._skipped]

    def is_labelled(self, i: str) -> bool:
        return i in self._records

    def is_skipped(self, i: str) -> bool:
        return i in self._skipped

    def skipped_ids(self) -> list[str]:
        """Ids answered ``skip`` or ``unsure``, in the order they were answered."""
        return list(self._skipped)

    def describe(self, details: Mapping[str, Mapping[str, str]]) -> None:
        """Hand the oracle what a person needs beside each clip (rank, score, prediction, stratum), if it
        shows such things (the file oracle does)."""
        if self.wants_details:
            self._oracle.set_details(details)

    def _check_request(self, items: list, ids: list[str], round: int, what: str) -> None:
        """A valid round, no repeated item (an id or a pair), every id in the pool."""
        if isinstance(round, bool) or not isinstance(round, int) or round < 0:
            raise PoolError(f"round must be a non-negative integer, got {round!r}")
        if len(set(items)) != len(items):
            raise PoolError(f"{what} must be unique")
        known = set(self._ids)
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise PoolError(f"id(s) not in the pool: {unknown[:5]}")

    def label(self, ids: Sequence[str], round: int) -> dict[str, PoolLabel]:
        """Ask the oracle for ``ids`` (unlabelled, known, unique) and record their labels under ``round``.

        Nothing is recorded unless the oracle answers every id (a :class:`~after.al.oracles.LabelsPending`
        from a FileOracle passes through and leaves the pool unchanged).
        """
        ids = list(ids)
        self._check_request(ids, ids, round, "ids to label")
        again = [i for i in ids if i in self._records or i in self._skipped]
        if again:
            raise PoolError(f"id(s) already labelled: {again[:5]} (a label is never asked for twice)")
        paired = self._paired.intersection(ids)
        if paired:
            raise PoolError(f"id(s) {sorted(paired)[:5]} were asked of single annotators; ask the others with "
                            "label_pairs (a clip query would ask those annotators twice)")
        if not ids:
            return {}
        answers = self._oracle.query(ids)
        if set(answers) != set(ids):
            raise PoolError(f"the oracle answered {sorted(answers)[:5]} for a query of {ids[:5]}")
        for i in ids:
            if isinstance(answers[i], Skipped):
                self._skipped[i] = LabelRecord(i, str(answers[i]), round)
        labels = {i: _normalise_label(i, answers[i]) for i in ids if i not in self._skipped}
        for i in labels:
            self._records[i] = LabelRecord(i, labels[i], round)
        log.info("round %d: labelled %d clip(s), %d of %d labelled", round, len(ids), len(self._records),
                 len(self._ids))
        if self.path is not None:
            self.save(self.path)
        return labels

    def pair_asked(self, i: str, annotator: str) -> bool:
        """Whether ``annotator`` was asked about clip ``i``: one by one, or with every annotator of a clip query."""
        return (i, annotator) in self._pairs or (i in self._records and i not in self._paired) \
            or i in self._skipped

    def asked_pairs(self) -> list[PairRecord]:
        """Every pair asked one by one, in the order asked (answered or not)."""
        return list(self._pairs.values())

    def label_pairs(self, pairs: Sequence[tuple[str, str]], round: int) -> dict[tuple[str, str], str | None]:
        """Ask the oracle's ``query_pairs`` for (clip, annotator) pairs never asked; record them under ``round``.

        An answer adds the vote ``"annotator:label"`` to the clip's label (a tuple of votes), which counts as
        labelled from its first vote; ``None`` (no vote) is recorded as asked and adds nothing. Nothing is
        recorded unless every pair is answered (a pending file oracle leaves the pool unchanged).
        """
        pairs = [(str(i), str(a)) for i, a in pairs]
        self._check_request(pairs, [i for i, _ in pairs], round, "pairs to ask")
        again = [p for p in pairs if self.pair_asked(*p)]
        if again:
            raise PoolError(f"pair(s) already asked: {again[:5]} (an annotator is never asked twice about a clip)")
        if any(not a or ":" in a for _, a in pairs):
            raise PoolError("every pair must name its annotator (an id without ':')")
        if not pairs:
            return {}
        query = getattr(self._oracle, "query_pairs", None)
        if query is None:
            raise PoolError(f"{type(self._oracle).__name__} cannot ask one annotator about a clip (no query_pairs); "
                            "individual entropy needs an oracle of several annotators (oracle: annotators)")
        answers = query(pairs)
        if set(answers) != set(pairs):
            raise PoolError(f"the oracle answered {sorted(answers)[:5]} for a pair query of {pairs[:5]}")
        for i, a in pairs:
            vote = answers[(i, a)]
            vote = None if vote is None or isinstance(vote, Skipped) else str(vote)
            self._pairs[(i, a)] = PairRecord(i, a, vote, round)
            self._paired.add(i)
            if vote:
                old = self._records.get(i)
                votes = (old.label if old else ()) + (f"{a}:{vote}",)
                self._records[i] = LabelRecord(i, votes, old.round if old else round)
        log.info("round %d: asked %d (clip, annotator) pair(s), %d of %d clips labelled", round, len(pairs),
                 len(self._records), len(self._ids))
        if self.path is not None:
            self.save(self.path)
        return {p: self._pairs[p].vote for p in pairs}

    def labels_for(self, ids: Iterable[str]) -> list[PoolLabel]:
        """Labels of ``ids``, in order; raises PoolError for any id the oracle has not labelled."""
        out = []
        for i in ids:
            rec = self._records.get(i)
            if rec is None:
                raise PoolError(f"id {i!r} is not labelled: labels come only from pool.label(ids, round)")
            out.append(rec.label)
        return out

    def round_of(self, i: str) -> int:
        if i not in self._records:
            raise PoolError(f"id {i!r} is not labelled")
        return self._records[i].round

    def labelled_in(self, round: int) -> list[str]:
        return [r.id for r in self._records.values() if r.round == round]

    def to_json(self) -> dict:
        def enc(label: PoolLabel):
            if isinstance(label, str):
                return label
            if isinstance(label, tuple):
                return list(label)
            return dict(label)

        return {"version": FORMAT_VERSION, "ids": list(self._ids),
                "labelled": [{"id": r.id, "label": enc(r.label), "round": r.round} for r in self._records.values()],
                "skipped": [{"id": r.id, "answer": r.label, "round": r.round} for r in self._skipped.values()],
                **({"pairs": [{"id": r.id, "annotator": r.annotator, "vote": r.vote, "round": r.round}
                              for r in self._pairs.values()]} if self._pairs else {})}

    def save(self, path: str | Path) -> Path:
        """Write the state atomically (temp file + rename)."""
        return atomic_write_text(path, json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: str | Path, oracle: Oracle, ids: Sequence[str] | None = None,
             autosave: bool = True) -> "LabelPool":
        """Resume from a state file. With ``ids``, the file must describe exactly that pool, in that order."""
        p = Path(path)
        try:
            state = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PoolError(f"{p}: pool state not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StateFileError(f"{p}: the label pool does not parse ({exc}); it holds every label given so far: "
                                 "restore it (from a backup), or start a new run directory") from None
        try:
            return cls._from_state(state, p, oracle, ids, autosave)
        except (KeyError, TypeError, AttributeError) as exc:
            raise StateFileError(f"{p}: not a label pool state ({exc.__class__.__name__}: {exc}); restore it "
                                 "(from a backup), or start a new run directory") from None

    @classmethod
    def _from_state(cls, state: dict, p: Path, oracle: Oracle, ids: Sequence[str] | None,
                    autosave: bool) -> "LabelPool":
        if state.get("version") != FORMAT_VERSION:
            raise PoolError(f"{p}: unsupported pool state version {state.get('version')!r}")
        if ids is not None and list(ids) != state["ids"]:
            raise PoolError(f"{p} was written for a different pool of ids; use a new run directory "
                            f"or the same manifest and fold")
        pool = cls(state["ids"], oracle, path=p if autosave else None)
        known = set(pool._ids)
        for rec in state["labelled"]:
            label = rec["label"]
            label = tuple(label) if isinstance(label, list) else label
            if rec["id"] not in known or rec["id"] in pool._records:
                raise PoolError(f"{p}: labelled id {rec['id']!r} is unknown or repeated")
            pool._records[rec["id"]] = LabelRecord(rec["id"], _normalise_label(rec["id"], label), int(rec["round"]))
        for rec in state.get("skipped", []):
            if rec["id"] not in known or rec["id"] in pool._records or rec["id"] in pool._skipped:
                raise PoolError(f"{p}: skipped id {rec['id']!r} is unknown, repeated or also labelled")
            pool._skipped[rec["id"]] = LabelRecord(rec["id"], str(rec["answer"]), int(rec["round"]))
        for rec in state.get("pairs", []):
            key = (str(rec["id"]), str(rec["annotator"]))
            if key[0] not in known or key in pool._pairs:
                raise PoolError(f"{p}: asked pair {key} is unknown or repeated")
            vote = rec["vote"]
            if vote is not None and f"{key[1]}:{vote}" not in pool._records.get(key[0], LabelRecord("", (), 0)).label:
                raise PoolError(f"{p}: the vote of pair {key} is missing from the clip's label")
            pool._pairs[key] = PairRecord(key[0], key[1], None if vote is None else str(vote), int(rec["round"]))
            pool._paired.add(key[0])
        return pool

    @classmethod
    def open(cls, path: str | Path, ids: Sequence[str], oracle: Oracle) -> "LabelPool":
        """Resume from ``path`` if it exists, else start an empty pool that saves there."""
        p = Path(path)
        return cls.load(p, oracle, ids) if p.exists() else cls(ids, oracle, path=p)
