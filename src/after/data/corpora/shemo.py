"""ShEMO, Sharif emotional speech in Persian (Mohamad Nezami et al. 2019): ``female/F01A01.wav``, ``male/M01N05.wav``.

Name: gender letter, speaker number, emotion letter (A anger, H happiness, N neutral, S sadness,
W surprise, F fear), utterance number.
"""
from __future__ import annotations

import re
from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       require_dir)

CORPUS = "shemo"
EMOTIONS = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad", "W": "surprise", "F": "fear"}
_NAME = re.compile(r"^([FM])(\d\d)([A-Z])(\d\d)$")


def _parse(path: Path) -> Candidate:
    m = _NAME.match(path.stem)
    if not m:
        return bad(path, CORPUS, "name does not follow ShEMO naming <F|M><speaker><emotion><utterance>, e.g. F01A01")
    sex, spk, letter, _ = m.groups()
    if letter not in EMOTIONS:
        return bad(path, CORPUS, f"unknown ShEMO emotion letter {letter!r} (known: {''.join(EMOTIONS)})")
    return Candidate(path=path, id=f"{CORPUS}_{path.stem}", corpus=CORPUS, speaker=f"{CORPUS}_{sex}{spk}",
                     gender=sex.lower(), emotion=EMOTIONS[letter], original_label=letter, language="fa")


def prepare_shemo(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """The ShEMO folder holding the unzipped ``female/`` and ``male/`` folders."""
    root = require_dir(root, CORPUS, "the ShEMO folder holding female/ and male/")
    return finish(root, [_parse(p) for p in audio_files(root)], on_error, progress)
