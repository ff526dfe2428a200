"""RAVDESS speech (Livingstone & Russo 2018): ``Actor_XX/MM-VV-EE-II-SS-RR-AA.wav``.

The seven two-digit fields are modality (03 = audio-only), vocal channel (01 speech, 02 song), emotion,
intensity (01 normal, 02 strong), statement, repetition and actor; odd actors are male, even female.
"""
from __future__ import annotations

import re
from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       require_dir)
from after.data.corpora.shared_layout import has_shared_layout, prepare_shared_layout

CORPUS = "ravdess"
EMOTIONS = {"01": ("neutral", "neutral"), "02": ("calm", "calm"), "03": ("happy", "happy"), "04": ("sad", "sad"),
            "05": ("angry", "angry"), "06": ("fear", "fearful"), "07": ("disgust", "disgust"),
            "08": ("surprise", "surprised")}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
INTENSITIES = {"01": "normal", "02": "strong"}
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def _parse(path: Path) -> Candidate:
    m = _NAME.match(path.stem)
    if not m:
        return bad(path, CORPUS, "name does not follow RAVDESS naming MM-VV-EE-II-SS-RR-AA")
    modality, channel, emo, intensity, statement, repetition, actor = m.groups()
    if modality != "03":
        return bad(path, CORPUS, f"modality {modality} is not audio-only (03)")
    if channel not in ("01", "02") or emo not in EMOTIONS or intensity not in INTENSITIES \
            or statement not in STATEMENTS:
        return bad(path, CORPUS, "a field of the RAVDESS name is out of range")
    folder = re.fullmatch(r"Actor_(\d\d)", path.parent.name)
    if folder and folder.group(1) != actor:
        return bad(path, CORPUS, f"actor {actor} in the name but the file is in {path.parent.name}")
    emotion, name = EMOTIONS[emo]
    return Candidate(
        path=path, id=f"{CORPUS}_{path.stem}", corpus=CORPUS, speaker=f"{CORPUS}_{actor}",
        gender="m" if int(actor) % 2 else "f", emotion=emotion, original_label=f"{emo}:{name}", language="en",
        text=STATEMENTS[statement],
        extra={"intensity": INTENSITIES[intensity], "statement": statement, "repetition": repetition,
               "vocal_channel": "speech" if channel == "01" else "song"})


def prepare_ravdess(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """Every ``*.wav`` below ``root`` (the Actor_XX folders of the Zenodo archive), or the shared layout."""
    root = require_dir(root, CORPUS, "the folder holding Actor_01 ... Actor_24")
    if has_shared_layout(root):
        return prepare_shared_layout(root, {CORPUS}, on_error, progress)
    return finish(root, [_parse(p) for p in audio_files(root)], on_error, progress)
