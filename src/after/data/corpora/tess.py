"""TESS, the Toronto emotional speech set (Pichora-Fuller & Dupuis 2020): ``<OAF|YAF>_<word>_<emotion>.wav``.

Two female speakers (OAF aged 64, YAF aged 26) say "Say the word <word>"; the emotion is the last name
part (``ps`` = pleasant surprise). Folders (``OAF_angry``, ``YAF_pleasant_surprised``...) are not trusted:
their spelling varies between copies.
"""
from __future__ import annotations

import re
from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       require_dir)

CORPUS = "tess"
EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
            "ps": "surprise", "sad": "sad"}
AGES = {"OAF": "64", "YAF": "26"}
_NAME = re.compile(r"^(OAF|YAF|OA)_(.+)_([A-Za-z]+)$", re.IGNORECASE)


def _parse(path: Path) -> Candidate:
    m = _NAME.match(path.stem)
    if not m or m.group(3).lower() not in EMOTIONS:
        return bad(path, CORPUS, "name does not follow TESS naming <OAF|YAF>_<word>_<emotion>")
    # One known copy names a few OAF files "OA_..."; they are the older speaker's.
    speaker = "OAF" if m.group(1).upper() in ("OA", "OAF") else "YAF"
    word, emo = m.group(2), m.group(3).lower()
    return Candidate(path=path, id=f"{CORPUS}_{speaker}_{word}_{emo}", corpus=CORPUS, speaker=f"{CORPUS}_{speaker}",
                     gender="f", emotion=EMOTIONS[emo], original_label=emo, language="en",
                     text=f"Say the word {word}", extra={"word": word, "age": AGES[speaker]})


def prepare_tess(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """Every ``*.wav`` below ``root`` (the per-emotion folders of the TESS release)."""
    root = require_dir(root, CORPUS, "the TESS folder holding OAF_* and YAF_* folders")
    return finish(root, [_parse(p) for p in audio_files(root)], on_error, progress)
