"""EmoV-DB (Adigwe et al. 2018), sorted release: ``<speaker>_<Emotion>/<style>_<range>_<nnnn>.wav``,
e.g. ``bea_Amused/amused_1-15_0001.wav``.

Speakers bea and jenie are female, josh and sam male; the emotion is the folder's second part.
"""
from __future__ import annotations

from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       require_dir)

CORPUS = "emovdb"
SPEAKERS = {"bea": "f", "jenie": "f", "josh": "m", "sam": "m"}
EMOTIONS = {"amused": "amused", "angry": "angry", "disgusted": "disgust", "neutral": "neutral", "sleepy": "sleepy"}


def _parse(path: Path) -> Candidate:
    speaker, _, emo = path.parent.name.partition("_")
    speaker, emo = speaker.lower(), emo.lower()
    if speaker not in SPEAKERS or emo not in EMOTIONS:
        return bad(path, CORPUS, "not in an EmoV-DB folder <bea|jenie|josh|sam>_<Amused|Angry|Disgusted|Neutral|Sleepy>")
    return Candidate(path=path, id=f"{CORPUS}_{speaker}_{path.stem}", corpus=CORPUS, speaker=f"{CORPUS}_{speaker}",
                     gender=SPEAKERS[speaker], emotion=EMOTIONS[emo], original_label=path.parent.name.partition("_")[2],
                     language="en", extra={"sentence": path.stem.rpartition("_")[2]})


def prepare_emovdb(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """The sorted EmoV-DB folder holding ``bea_Amused``, ``sam_Sleepy``... folders."""
    root = require_dir(root, CORPUS, "the sorted EmoV-DB folder holding <speaker>_<Emotion> folders")
    return finish(root, [_parse(p) for p in audio_files(root)], on_error, progress)
