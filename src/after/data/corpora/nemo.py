"""nEMO, emotional speech in Polish (Christop 2024): ``samples/<speaker>_<emotion>_<sentence>.wav`` + ``data.tsv``.

``data.tsv`` columns: file_id, emotion, raw_text, normalized_text, speaker_id, gender, age. The labels
come from the table and are checked against the file name.
"""
from __future__ import annotations

from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       find_dir, iter_rows, require_dir)
from after.data.corpora.shared_layout import has_shared_layout, prepare_shared_layout

CORPUS = "nemo"
EMOTIONS = {"anger": "angry", "fear": "fear", "happiness": "happy", "sadness": "sad", "surprised": "surprise",
            "neutral": "neutral"}
GENDERS = {"female": "f", "male": "m", "f": "f", "m": "m"}
_COLUMNS = ("file_id", "emotion", "raw_text", "normalized_text", "speaker_id", "gender", "age")


def _row(path: Path, row: dict[str, str], line: int) -> Candidate:
    label = row["emotion"].lower()
    if label not in EMOTIONS:
        return bad(path, CORPUS, f"data.tsv line {line}: unknown nEMO emotion {label!r}")
    parts = path.stem.split("_")
    if len(parts) != 3 or parts[1] != label or parts[0] != row["speaker_id"]:
        return bad(path, CORPUS, f"data.tsv line {line} ({row['speaker_id']}, {label}) disagrees with the file name")
    return Candidate(path=path, id=f"{CORPUS}_{path.stem}", corpus=CORPUS, speaker=f"{CORPUS}_{row['speaker_id']}",
                     gender=GENDERS.get(row["gender"].lower(), "unknown"), emotion=EMOTIONS[label],
                     original_label=label, language="pl", text=row["raw_text"],
                     extra={"normalized_text": row["normalized_text"], "age": row["age"], "sentence_id": parts[2]})


def prepare_nemo(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """The amu-cai/nEMO repository layout (``samples/`` and ``data.tsv``), or the shared layout."""
    root = require_dir(root, CORPUS, "the nEMO repository folder holding samples/ and data.tsv")
    if has_shared_layout(root):
        return prepare_shared_layout(root, {CORPUS}, on_error, progress)
    table = root / "data.tsv"
    if not table.is_file():
        raise FileNotFoundError(f"{table} not found: nEMO labels come from data.tsv in the repository root")
    samples = find_dir(root, "samples") or root
    cands, listed = [], set()
    for line, row in iter_rows(table, delimiter="\t"):
        missing = [c for c in _COLUMNS if c not in row]
        if missing:
            raise ValueError(f"{table}: missing column(s) {', '.join(missing)}")
        name = row["file_id"] if row["file_id"].lower().endswith(".wav") else row["file_id"] + ".wav"
        path = samples / name
        listed.add(path.name)
        cands.append(_row(path, row, line))
    cands += [bad(p, CORPUS, "not listed in data.tsv (no label)") for p in audio_files(samples)
              if p.name not in listed]
    return finish(root, cands, on_error, progress)
