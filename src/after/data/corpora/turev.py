"""TurEV-DB, Turkish emotional words (Canpolat et al. 2020): ``Sound Source/<Emotion>/<actor>_<code>_<word>.wav``.

The emotion is the folder (Angry, Calm, Happy, Sad); the Turkish code in the name (kz, sk, mt, hl) must
agree with it. Speaker gender is not documented, so it is ``unknown``.
"""
from __future__ import annotations

import re
from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       find_dir, require_dir)
from after.data.corpora.shared_layout import has_shared_layout, prepare_shared_layout

CORPUS = "turev_db"
SPEAKER_PREFIX = "turev"
FOLDERS = {"Angry": ("angry", "kz"), "Calm": ("calm", "sk"), "Happy": ("happy", "mt"), "Sad": ("sad", "hl")}
_NAME = re.compile(r"^(\d+)_([a-z]+)_(.+)$")


def _parse(path: Path) -> Candidate:
    folder = path.parent.name
    if folder not in FOLDERS:
        return bad(path, CORPUS, f"folder {folder!r} is not one of {', '.join(FOLDERS)}")
    m = _NAME.match(path.stem)
    if not m:
        return bad(path, CORPUS, "name does not follow TurEV-DB naming <actor>_<code>_<word>")
    actor, code, word = m.groups()
    emotion, expected = FOLDERS[folder]
    if code != expected:
        return bad(path, CORPUS, f"emotion code {code!r} disagrees with folder {folder} (expected {expected!r})")
    return Candidate(path=path, id=f"{CORPUS}_{path.stem}", corpus=CORPUS, speaker=f"{SPEAKER_PREFIX}_{actor}",
                     gender="unknown", emotion=emotion, original_label=f"{folder}:{code}", language="tr", text=word,
                     extra={"word": word})


def prepare_turev(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """The Xeonen/TurEV-DB repository (its ``Sound Source`` folder only), or the shared layout."""
    root = require_dir(root, CORPUS, "the TurEV-DB repository folder holding 'Sound Source'")
    if has_shared_layout(root):
        return prepare_shared_layout(root, {CORPUS, "turev"}, on_error, progress)
    source = find_dir(root, "Sound Source")
    if source is None:
        raise FileNotFoundError(f"{root}: no 'Sound Source' folder; point ROOT at the TurEV-DB repository")
    return finish(root, [_parse(p) for p in audio_files(source)], on_error, progress)
