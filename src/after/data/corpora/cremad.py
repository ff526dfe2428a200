"""CREMA-D (Cao et al. 2014): ``AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav``, e.g. ``1001_DFA_ANG_XX.wav``.

Gender and age come from ``VideoDemographics.csv`` (ActorID, Age, Sex, Race, Ethnicity) when it is
beside ``AudioWAV``; without it gender is ``unknown``.
"""
from __future__ import annotations

import re
from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       find_dir, iter_rows, require_dir)

CORPUS = "cremad"
EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
SENTENCES = {
    "IEO": "It's eleven o'clock.", "TIE": "That is exactly what happened.", "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.", "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.", "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.", "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.", "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def _demographics(root: Path) -> dict[str, tuple[str, str]]:
    """ActorID -> (gender, age) from VideoDemographics.csv, or {} when absent."""
    for path in (root / "VideoDemographics.csv", root.parent / "VideoDemographics.csv"):
        if path.is_file():
            sex = {"male": "m", "female": "f"}
            return {r["ActorID"]: (sex.get(r.get("Sex", "").lower(), "unknown"), r.get("Age", ""))
                    for _, r in iter_rows(path)}
    return {}


def _parse(path: Path, demo: dict[str, tuple[str, str]]) -> Candidate:
    m = _NAME.match(path.stem)
    if not m:
        return bad(path, CORPUS, "name does not follow CREMA-D naming <actor>_<sentence>_<emotion>_<level>")
    actor, sentence, emo, level = m.groups()
    if emo not in EMOTIONS or level not in LEVELS:
        return bad(path, CORPUS, f"unknown CREMA-D emotion {emo!r} or level {level!r}")
    gender, age = demo.get(actor, ("unknown", ""))
    return Candidate(path=path, id=f"{CORPUS}_{path.stem}", corpus=CORPUS, speaker=f"{CORPUS}_{actor}", gender=gender,
                     emotion=EMOTIONS[emo], original_label=emo, language="en", text=SENTENCES.get(sentence, ""),
                     extra={"intensity": LEVELS[level], "sentence": sentence, "age": age})


def prepare_cremad(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """The CREMA-D repository folder holding ``AudioWAV/`` (and ideally ``VideoDemographics.csv``)."""
    root = require_dir(root, CORPUS, "the CREMA-D folder holding AudioWAV/")
    audio = find_dir(root, "AudioWAV") or root
    demo = _demographics(root)
    notes = () if demo else (f"{root}: no VideoDemographics.csv found; CREMA-D gender is 'unknown'",)
    return finish(root, [_parse(p, demo) for p in audio_files(audio)], on_error, progress, notes)
