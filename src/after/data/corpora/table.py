"""A user table: a CSV with ``path`` (or ``file``) and ``label`` (or ``emotion``) columns, optionally
``corpus``, ``speaker``, ``gender``, ``text``, ``session``, ``language``, ``original_label`` and ``id``;
other columns are kept as extras (a table's own ``duration_s`` is ignored: the header's is used).

Relative paths are relative to the table's folder, and every file must lie under that folder unless
``allow_outside_root``. The corpus is ``corpus_name`` if given, else the row's ``corpus`` column, else the
table's file name. Speakers are prefixed by the corpus (``spk1`` -> ``mine_spk1``) unless the table has a
``corpus`` column (its speakers, e.g. ``emodb_03``, are then kept as written) or they carry the prefix. Without a
speaker column, ``speaker_regex`` is applied to the path; without either, every file is its own speaker
(and the result says so). The shared corpora's ``metadata.csv`` files read as they are.
"""
from __future__ import annotations

from pathlib import Path

from after.data.corpora.folder import NO_SPEAKER_NOTE, unknown_label_note
from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, bad, finish, iter_rows, slug,
                                       speaker_matcher)
from after.data.labels import normalise_emotion
from after.data.manifest import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SEGMENT_COLUMNS

GENDERS = {"f": "f", "female": "f", "w": "f", "woman": "f", "m": "m", "male": "m", "man": "m"}
# Columns read into manifest fields (never copied as extras, or the manifest would hold them twice).
_KNOWN = {"file", "label", *REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *SEGMENT_COLUMNS}


def prepare_csv(table: str | Path, on_error: OnError = "fail", progress: Progress | None = None,
                speaker_regex: str | None = None, corpus_name: str | None = None,
                language: str = "", allow_outside_root: bool = False) -> PrepareResult:
    """``table`` is the CSV file; the corpus is ``corpus_name``, else the ``corpus`` column, else its stem."""
    table = Path(table).expanduser()
    if not table.is_file():
        raise FileNotFoundError(f"{table}: table not found (prepare csv expects the CSV file, with path,label columns)")
    speaker_of = speaker_matcher(speaker_regex) if speaker_regex else None
    base = table.parent
    cands, has_speaker = [], False
    for line, row in iter_rows(table):
        path_col = "path" if "path" in row else "file"
        label_col = "label" if "label" in row else "emotion"
        if path_col not in row or label_col not in row:
            raise ValueError(f"{table}: needs a path (or file) column and a label (or emotion) column; "
                             f"found {', '.join(row)}")
        corpus = slug(corpus_name or row.get("corpus") or table.stem)
        rel = row[path_col]
        path = Path(rel) if Path(rel).is_absolute() else base / rel
        if not rel or not row[label_col]:
            cands.append(bad(path if rel else table, corpus, f"line {line}: empty path or label"))
            continue
        uid = row.get("id") or "-".join(Path(rel).with_suffix("").parts[-2:])
        uid = uid if uid.startswith(f"{corpus}_") else f"{corpus}_{uid}"
        speaker = row.get("speaker", "")
        has_speaker = has_speaker or bool(speaker)
        if not speaker and speaker_of:
            speaker = speaker_of(Path(rel).as_posix()) or ""
            if not speaker:
                cands.append(bad(path, corpus, f"line {line}: --speaker-regex {speaker_regex!r} does not match {rel}"))
                continue
        if speaker and not row.get("corpus") and not speaker.startswith(f"{corpus}_"):
            speaker = f"{corpus}_{speaker}"   # a table with a corpus column names its speakers already
        cands.append(Candidate(
            path=path, id=uid, corpus=corpus, speaker=speaker or uid,
            gender=GENDERS.get(row.get("gender", "").lower(), "unknown"), emotion=normalise_emotion(row[label_col]),
            original_label=row.get("original_label") or row[label_col], language=row.get("language") or language,
            session=row.get("session", ""), text=row.get("text", ""),
            extra={k: v for k, v in row.items() if k not in _KNOWN}))
    corpora = sorted({c.corpus for c in cands}) or [slug(corpus_name or table.stem)]
    notes = () if (has_speaker or speaker_of) else (NO_SPEAKER_NOTE.format(corpus=", ".join(corpora)),)
    notes += unknown_label_note(", ".join(corpora), {c.emotion for c in cands if not c.problem})
    return finish(table, cands, on_error, progress, notes, known_emotions=False,
                  allow_outside_root=allow_outside_root)
