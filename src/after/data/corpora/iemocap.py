"""IEMOCAP (Busso et al. 2008), official release: ``SessionN/dialog/EmoEvaluation/<dialog>.txt`` and
``SessionN/sentences/wav/<dialog>/<utterance>.wav``.

Each evaluation block starts ``[start - end]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[v, a, d]`` followed by
one ``C-<evaluator>:<TAB>Label; Label;<TAB>(comment)`` line per categorical evaluator. The block's code is
the majority label (``xxx`` = no majority); each evaluator's labels are kept as JSON in the extra column
``evaluator_labels`` so soft labels can be built later. The speaker of ``Ses01F_impro01_M000`` is the male
actor of session 1 (``iemocap_Ses01M``): the letter of the last name part says who speaks.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from after.data.corpora.recipe import Candidate, OnError, PrepareResult, Progress, bad, finish, require_dir

CORPUS = "iemocap"
CODES = {"neu": "neutral", "hap": "happy", "exc": "excited", "sad": "sad", "ang": "angry", "fru": "frustrated",
         "sur": "surprise", "fea": "fear", "dis": "disgust", "oth": "other", "xxx": "no_agreement"}
EVALUATOR_LABELS = {"neutral": "neutral", "neutral state": "neutral", "happiness": "happy", "excited": "excited",
                    "sadness": "sad", "anger": "angry", "frustration": "frustrated", "surprise": "surprise",
                    "fear": "fear", "disgust": "disgust", "other": "other"}
_HEADER = re.compile(r"^\[([\d.]+)\s*-\s*([\d.]+)\]\s+(\S+)\s+(\w+)\s+\[([^\]]*)\]")
_CATEGORICAL = re.compile(r"^C-([^:]+):\s*([^(\t]*)")
_TRANSCRIPT = re.compile(r"^(\S+)\s+\[[^\]]*\]:\s*(.*)$")


def _evaluations(path: Path) -> list[dict]:
    """Blocks of one EmoEvaluation file: name, code, vad and the categorical evaluators' labels."""
    blocks: list[dict] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        head = _HEADER.match(line)
        if head:
            _, _, name, code, vad = head.groups()
            blocks.append({"name": name, "code": code, "vad": [v.strip() for v in vad.split(",")], "evals": []})
            continue
        cat = _CATEGORICAL.match(line)
        if cat and blocks:
            labels = [x.strip() for x in cat.group(2).split(";") if x.strip()]
            blocks[-1]["evals"].append({"evaluator": cat.group(1).strip(),
                                        "labels": [EVALUATOR_LABELS.get(x.lower(), x.lower()) for x in labels]})
    return blocks


def _transcripts(session: Path, dialog: str) -> dict[str, str]:
    path = session / "dialog" / "transcriptions" / f"{dialog}.txt"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _TRANSCRIPT.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _candidate(session: Path, block: dict, texts: dict[str, str]) -> Candidate:
    name = block["name"]
    dialog, _, turn = name.rpartition("_")
    wav = session / "sentences" / "wav" / dialog / f"{name}.wav"
    if block["code"] not in CODES:
        return bad(wav, CORPUS, f"unknown IEMOCAP label {block['code']!r} in EmoEvaluation/{dialog}.txt")
    if not re.match(r"^Ses\d\d[FM]", name) or turn[:1] not in ("F", "M"):
        return bad(wav, CORPUS, "name does not follow IEMOCAP naming SesNN[FM]_<dialog>_[FM]NNN")
    v, a, d = (block["vad"] + ["", "", ""])[:3]
    return Candidate(
        path=wav, id=f"{CORPUS}_{name}", corpus=CORPUS, speaker=f"{CORPUS}_{name[:5]}{turn[0]}",
        gender=turn[0].lower(), emotion=CODES[block["code"]], original_label=block["code"], language="en",
        session=f"Session{int(name[3:5])}", text=texts.get(name, ""),
        extra={"evaluator_labels": json.dumps(block["evals"], ensure_ascii=False), "valence": v, "arousal": a,
               "dominance": d, "dialog": dialog})


def prepare_iemocap(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None) -> PrepareResult:
    """Every evaluated utterance of ``root/Session1`` ... ``Session5``; ``xxx``/``oth`` are kept (a label map
    drops them), their emotion being ``no_agreement``/``other``."""
    root = require_dir(root, CORPUS, "IEMOCAP_full_release holding Session1 ... Session5")
    sessions = sorted(p for p in root.glob("Session*") if p.is_dir())
    if not sessions:
        raise FileNotFoundError(f"{root}: no Session* folders; point ROOT at IEMOCAP_full_release")
    cands = []
    for session in sessions:
        for evaluation in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            if evaluation.name.startswith("."):
                continue
            texts = _transcripts(session, evaluation.stem)
            cands += [_candidate(session, b, texts) for b in _evaluations(evaluation)]
    return finish(root, cands, on_error, progress)
