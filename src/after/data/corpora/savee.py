"""SAVEE (Jackson & Haq 2014): ``AudioData/<speaker>/<code><nn>.wav`` for the four male speakers DC, JE, JK, KL.

Codes: a anger, d disgust, f fear, h happiness, n neutral, sa sadness, su surprise. The flat Kaggle copy
(``DC_a01.wav``) is read too.
"""
from __future__ import annotations

import re
from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       find_dir, require_dir)

CORPUS = "savee"
SPEAKERS = ("DC", "JE", "JK", "KL")
EMOTIONS = {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "n": "neutral", "sa": "sad", "su": "surprise"}
_CODE = re.compile(r"^(sa|su|a|d|f|h|n)(\d\d)$")


def _parse(path: Path) -> Candidate:
    speaker, _, code = path.stem.rpartition("_")
    if not speaker:
        speaker = path.parent.name
    m = _CODE.match(code)
    if speaker not in SPEAKERS or not m:
        return bad(path, CORPUS, "not a SAVEE file: expected AudioData/<DC|JE|JK|KL>/<a|d|f|h|n|sa|su><nn>.wav")
    return Candidate(path=path, id=f"{CORPUS}_{speaker}_{code}", corpus=CORPUS, speaker=f"{CORPUS}_{speaker}",
                     gender="m", emotion=EMOTIONS[m.group(1)], original_label=m.group(1), language="en")


def prepare_savee(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """The SAVEE folder holding ``AudioData/`` (or ``AudioData`` itself)."""
    root = require_dir(root, CORPUS, "the SAVEE folder holding AudioData/")
    audio = find_dir(root, "AudioData") or root
    return finish(root, [_parse(p) for p in audio_files(audio)], on_error, progress)
