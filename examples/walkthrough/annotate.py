"""Stands in for the person who labels: fills the empty `label` cells of RUN/to_label.csv.

    python examples/walkthrough/annotate.py runs/walk/run/to_label.csv --answers runs/walk/answers.csv

A RAVDESS clip is labelled from its file name's emotion code (03-01-EE-...: 01 neutral, 03 happy, 04 sad,
05 angry); a stretch of the long recording from answers.csv (the clip it overlaps most); a stretch that
overlaps none is answered ``skip``, as a person would for a clip with no speech. Columns other than
`label` are left as they are.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

CODES = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry"}


def answer(row: dict, answers: list[dict]) -> str:
    parts = Path(row["path"]).stem.split("-")
    if len(parts) == 7 and parts[2] in CODES:
        return CODES[parts[2]]
    start, end = float(row["start_s"] or 0), float(row["end_s"] or 1e9)
    best, overlap = "skip", 0.0
    for a in answers:
        if Path(a["path"]).resolve() == Path(row["path"]).resolve():
            o = min(end, float(a["end_s"])) - max(start, float(a["start_s"]))
            if o > overlap:
                best, overlap = a["emotion"], o
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sheet", type=Path)
    p.add_argument("--answers", type=Path, required=True)
    args = p.parse_args()
    with open(args.answers, newline="") as fh:
        answers = list(csv.DictReader(fh))
    with open(args.sheet, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    filled = 0
    for r in rows:
        if not r["label"].strip():
            r["label"] = answer(r, answers)
            filled += 1
    with open(args.sheet, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{args.sheet}: labelled {filled} clip(s)")


if __name__ == "__main__":
    main()
