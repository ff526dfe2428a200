"""A user corpus laid out as one folder per label: ``<root>/<label>/**/<file>.wav``.

The label is the folder name, normalised (``Anger`` -> ``angry``). The speaker comes from
``speaker_regex`` applied to the path relative to ``root``; without one every file is its own speaker and
the result carries a note that folds made from it cannot be speaker-independent.
"""
from __future__ import annotations

from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       require_dir, slug, speaker_matcher)
from after.data.labels import EMOTIONS, normalise_emotion

NO_SPEAKER_NOTE = ("{corpus}: no speaker information (give --speaker-regex); every file is treated as its own "
                   "speaker, so folds split from this manifest will NOT be speaker-independent")


def unknown_label_note(corpus: str, labels: set[str]) -> tuple[str, ...]:
    odd = sorted(labels - set(EMOTIONS))
    if not odd:
        return ()
    return (f"{corpus}: label(s) {', '.join(odd)} are not in the standard vocabulary; they are kept as written "
            "(map them with --labels map.yaml to merge with other corpora)",)


def prepare_folder(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None,
                   speaker_regex: str | None = None, corpus_name: str | None = None,
                   language: str = "") -> PrepareResult:
    """Ids are ``<corpus>_<label>-<relative name>``; ``corpus_name`` defaults to the folder name."""
    root = require_dir(root, "folder", "one subfolder per label")
    corpus = slug(corpus_name or root.resolve().name)
    speaker_of = speaker_matcher(speaker_regex) if speaker_regex else None
    cands = []
    for path in audio_files(root):
        rel = path.relative_to(root)
        if len(rel.parts) < 2:
            cands.append(bad(path, corpus, "not inside a label folder (expected <root>/<label>/<file>)"))
            continue
        uid = f"{corpus}_{'-'.join(rel.with_suffix('').parts)}"
        speaker = speaker_of(rel.as_posix()) if speaker_of else uid
        if speaker is None:
            cands.append(bad(path, corpus, f"--speaker-regex {speaker_regex!r} does not match {rel.as_posix()}"))
            continue
        cands.append(Candidate(path=path, id=uid, corpus=corpus, speaker=f"{corpus}_{speaker}" if speaker_of else uid,
                               emotion=normalise_emotion(rel.parts[0]), original_label=rel.parts[0],
                               language=language))
    notes = () if speaker_of else (NO_SPEAKER_NOTE.format(corpus=corpus),)
    notes += unknown_label_note(corpus, {c.emotion for c in cands if not c.problem})
    return finish(root, cands, on_error, progress, notes, known_emotions=False)
