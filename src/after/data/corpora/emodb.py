"""EmoDB, the Berlin Database of Emotional Speech (Burkhardt et al. 2005): ``wav/03a01Fa.wav``.

Name positions: 1-2 speaker, 3-5 text code, 6 the German emotion letter, 7 the version.
"""
from __future__ import annotations

import re
from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       find_dir, require_dir)
from after.data.corpora.shared_layout import has_shared_layout, prepare_shared_layout

CORPUS = "emodb"
EMOTIONS = {"W": ("angry", "Ärger/Wut"), "L": ("boredom", "Langeweile"), "E": ("disgust", "Ekel"),
            "A": ("fear", "Angst"), "F": ("happy", "Freude"), "T": ("sad", "Trauer"), "N": ("neutral", "neutral")}
# Speaker -> (gender, age), from the corpus documentation.
SPEAKERS = {"03": ("m", 31), "08": ("f", 34), "09": ("f", 21), "10": ("m", 32), "11": ("m", 26),
            "12": ("m", 30), "13": ("f", 32), "14": ("f", 35), "15": ("m", 25), "16": ("f", 31)}
TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


def _parse(path: Path) -> Candidate:
    m = _NAME.match(path.stem)
    if not m:
        return bad(path, CORPUS, "name does not follow EmoDB naming (e.g. 03a01Fa: speaker, text, emotion, version)")
    spk, text_code, letter, version = m.groups()
    if letter not in EMOTIONS:
        return bad(path, CORPUS, f"unknown EmoDB emotion letter {letter!r} (known: {''.join(EMOTIONS)})")
    emotion, german = EMOTIONS[letter]
    gender, age = SPEAKERS.get(spk, ("unknown", ""))
    return Candidate(path=path, id=f"{CORPUS}_{path.stem}", corpus=CORPUS, speaker=f"{CORPUS}_{spk}", gender=gender,
                     emotion=emotion, original_label=f"{letter}:{german}", language="de",
                     text=TEXTS.get(text_code, ""), extra={"age": str(age), "text_code": text_code, "version": version})


def prepare_emodb(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """``root/wav/*.wav`` of the official release (or ``root`` itself holding the wavs), or the shared layout
    (``emodb_crop2s``)."""
    root = require_dir(root, CORPUS, "the EmoDB folder holding wav/")
    if has_shared_layout(root):
        return prepare_shared_layout(root, {CORPUS, "emodb_crop2s"}, on_error, progress)
    wav = find_dir(root, "wav") or root
    return finish(root, [_parse(p) for p in audio_files(wav)], on_error, progress)
