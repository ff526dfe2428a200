"""Round records: an append-only JSONL log, and what is derived from it alone (AULC, the curve table).

A record is one finished round. Appends are flushed and fsynced; a last line cut short by a kill (no
trailing newline, not valid JSON) is dropped on the next read (its round simply did not finish). Anything
else that does not parse is damage, not an interruption: it is an error naming the line, and the file is
left exactly as it is.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from after.errors import StateFileError

log = logging.getLogger(__name__)


class RoundLog:
    """``rounds.jsonl``: one JSON object per finished round, in round order."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def records(self) -> list[dict]:
        """Every finished round's record.

        Only a torn last line (no trailing newline, not JSON: the process was killed mid-write) is removed
        from the file; a damaged line anywhere else raises :class:`StateFileError` and changes nothing.
        """
        if not self.path.is_file():
            return []
        raw = self.path.read_bytes()
        lines = raw.splitlines(keepends=True)
        records: list[dict] = []
        for n, line in enumerate(lines, start=1):
            last = n == len(lines)
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                if last and not line.endswith(b"\n"):
                    log.warning("%s: dropping an unfinished last line (the run was interrupted)", self.path)
                    with open(self.path, "r+b") as fh:
                        fh.truncate(len(raw) - len(line))
                    break
                raise StateFileError(
                    f"{self.path}, line {n}: not a valid round record (the file was damaged or edited). The file "
                    f"was left as it is: restore that line (from a backup, or by undoing the edit), or start a new "
                    "run directory") from None
            if not isinstance(rec, dict) or rec.get("round") != len(records):
                got = rec.get("round") if isinstance(rec, dict) else rec
                raise StateFileError(f"{self.path}, line {n}: holds round {got!r}, expected {len(records)}; "
                                     "the log was edited by hand. Restore the lines in round order, or start a new "
                                     "run directory")
            records.append(rec)
            if last and not line.endswith(b"\n"):   # a whole record whose newline was lost: keep it
                with open(self.path, "ab") as fh:
                    fh.write(b"\n")
        return records

    def append(self, record: Mapping) -> None:
        line = json.dumps(record, allow_nan=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def aulc(fractions: Sequence[float], scores: Sequence[float], lo: float | None = None,
         hi: float | None = None) -> float:
    """Area under the learning curve (trapezoids), divided by the width of ``[lo, hi]``.

    ``lo``/``hi`` default to the first and last fraction; the curve is linearly interpolated at them, so
    runs with different round sizes are compared over the same interval. A perfect learner scores 1.
    """
    x = np.asarray(fractions, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError("aulc needs at least two (fraction, score) points of equal length")
    if np.any(np.diff(x) <= 0):
        raise ValueError("fractions must increase strictly")
    lo = x[0] if lo is None else lo
    hi = x[-1] if hi is None else hi
    if not (x[0] <= lo < hi <= x[-1]):
        raise ValueError(f"[{lo}, {hi}] is not inside the measured range [{x[0]}, {x[-1]}]")
    inner = (x > lo) & (x < hi)
    xs = np.concatenate([[lo], x[inner], [hi]])
    ys = np.interp(xs, x, y)
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2) / (hi - lo))


def summarize_rounds(records: Iterable[Mapping]) -> dict:
    """``summary.json``: AULC of test UA over the labelled fraction, final and best-validation figures."""
    recs = list(records)
    if not recs:
        raise ValueError("no finished round to summarise")
    frac = [r["fraction"] for r in recs]
    out = {
        "rounds": len(recs),
        "n_labelled": recs[-1]["n_labelled"],
        "fraction": frac[-1],
        "test_ua": recs[-1]["test_ua"],
        "test_wa": recs[-1]["test_wa"],
        "test_f1": recs[-1]["test_f1"],
        "aulc": _aulc_or_none(spent_fractions(recs), [r["test_ua"] for r in recs]),
        "seconds": {k: float(sum(r["seconds"][k] for r in recs)) for k in recs[0]["seconds"]},
    }
    if recs[-1].get("test_note"):     # no test set: null figures and why, never invented ones
        out["test_note"] = recs[-1]["test_note"]
    return out


def spent_fractions(records: Sequence[Mapping]) -> list[float]:
    """The budget spent by each round, as a share of the pool: the picks asked so far (clips; after the cold
    start, (clip, annotator) pairs for pair-wise strategies), skipped or unanswered ones included.

    The AULC's x-axis. Without skips or pairs it equals the labelled fraction; with them the labelled count
    can stand still while budget is spent (a round of pairs on clips already labelled, a round all skipped).
    """
    n_pool = records[0]["n_labelled"] / records[0]["fraction"] if records[0]["fraction"] else 1.0
    spent = np.cumsum([len(r["selected"]) for r in records])
    return [float(v / n_pool) for v in spent]


def _aulc_or_none(fractions: Sequence[float], scores: Sequence[float | None]) -> float | None:
    """AULC of the test UA curve; ``None`` when a round has no test figure (a run without a test set)."""
    if any(s is None for s in scores):
        return None
    return aulc(fractions, scores) if len(scores) > 1 else float(scores[0])


def curve_table(records: Iterable[Mapping]) -> list[dict]:
    """The learning curve as rows: round, labelled count and fraction, val/test UA, test WA, seconds."""
    return [{"round": r["round"], "n_labelled": r["n_labelled"], "fraction": r["fraction"],
             "strategy": r.get("strategy", ""), "val_ua": r["val_ua"], "test_ua": r["test_ua"],
             "test_wa": r["test_wa"], "seconds": sum(r["seconds"].values())} for r in records]
