"""Emotion vocabulary and label maps.

Recipes write normalised lowercase English emotions (:data:`EMOTIONS`). A label map then decides which
emotions an experiment uses: ``keep`` (all), ``4class`` (the usual IEMOCAP-style angry/happy/neutral/sad,
with excited folded into happy) or a user YAML file ``{original: target}`` where unlisted labels and
``null`` targets are dropped. Dropped utterances are counted, never silently lost.
"""
from __future__ import annotations

from after.errors import AfterError

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import yaml

from after.data.manifest import Manifest

log = logging.getLogger(__name__)

# The normalised emotion names recipes may write; anything else from a corpus recipe is a bug or a bad file.
EMOTIONS = (
    "neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise", "boredom", "excited",
    "frustrated", "amused", "sleepy", "contempt", "other", "no_agreement",
)

# Spellings seen in user folders and tables, mapped to the normalised name.
_SYNONYMS = {
    "anger": "angry", "ang": "angry", "mad": "angry",
    "happiness": "happy", "hap": "happy", "joy": "happy", "happy": "happy",
    "sadness": "sad", "sad": "sad",
    "fearful": "fear", "fea": "fear", "afraid": "fear", "anxiety": "fear",
    "disgusted": "disgust", "dis": "disgust",
    "surprised": "surprise", "sur": "surprise", "pleasant_surprise": "surprise", "ps": "surprise",
    "neu": "neutral", "bored": "boredom", "exc": "excited", "frustration": "frustrated", "fru": "frustrated",
    "sleepiness": "sleepy", "amusement": "amused", "oth": "other", "xxx": "no_agreement",
}


class LabelMapError(AfterError, ValueError):
    """A label map that cannot be used; the message names the file or the unknown built-in."""


def normalise_emotion(name: str) -> str:
    """``"Anger"`` -> ``"angry"``, ``"Pleasant surprise"`` -> ``"surprise"``; unknown names are lowercased."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return _SYNONYMS.get(key, key)


@dataclass(frozen=True)
class LabelMap:
    """``mapping[emotion]`` is the target label, or None to drop; unlisted labels are dropped unless
    ``keep_unlisted``."""

    name: str
    mapping: Mapping[str, str | None] = field(default_factory=dict)
    keep_unlisted: bool = False

    def target(self, emotion: str) -> str | None:
        if emotion in self.mapping:
            return self.mapping[emotion]
        return emotion if self.keep_unlisted else None

    def classes(self) -> list[str]:
        """The target labels this map can produce (empty for ``keep``: it keeps whatever is there)."""
        return sorted({t for t in self.mapping.values() if t})


LABEL_MAPS: dict[str, LabelMap] = {
    "keep": LabelMap("keep", {}, keep_unlisted=True),
    "4class": LabelMap("4class", {"angry": "angry", "happy": "happy", "excited": "happy",
                                  "neutral": "neutral", "sad": "sad"}),
}


def read_label_map(path: str | Path) -> LabelMap:
    """Read a YAML ``{original: target}`` map; a ``null`` target drops the label, as does leaving it out."""
    p = Path(path)
    if not p.is_file():
        raise LabelMapError(f"{p}: label map not found (use one of {', '.join(LABEL_MAPS)} or a YAML file)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LabelMapError(f"{p}: not valid YAML ({exc})") from None
    return label_map_from(data, p.stem, str(p))


def label_map_from(data: object, name: str, where: str) -> LabelMap:
    """A label map from a parsed ``{original: target}`` mapping (a YAML file's, or a config's inline one).

    Keys are normalised (``Anger`` -> ``angry``); two keys naming one label with different targets are an
    error, with the same target a warning. ``where`` names the file or config key in messages.
    """
    if not isinstance(data, dict) or not data:
        raise LabelMapError(f"{where}: a label map is a non-empty mapping 'original: target' (target null to drop)")
    mapping: dict[str, str | None] = {}
    written: dict[str, str] = {}
    for src, dst in data.items():
        if not isinstance(src, str) or not (dst is None or isinstance(dst, str)):
            raise LabelMapError(f"{where}: entry {src!r}: {dst!r} must map a label name to a label name or null")
        key = normalise_emotion(src)
        target = dst.strip().lower() if isinstance(dst, str) and dst.strip() else None
        if key in written and mapping[key] != target:
            raise LabelMapError(f"{where}: keys {written[key]!r} and {src!r} name the same label {key!r} (keys "
                                f"are compared ignoring case) but map it to {mapping[key]!r} and {target!r}; keep one")
        if key in written:
            log.warning("%s: keys %r and %r name the same label %r (keys are compared ignoring case)",
                        where, written[key], src, key)
        written[key] = src
        mapping[key] = target
    return LabelMap(name, mapping)


def load_label_map(spec: str | Path) -> LabelMap:
    """A built-in name (``keep``, ``4class``) or the path of a YAML map."""
    if str(spec) in LABEL_MAPS:
        return LABEL_MAPS[str(spec)]
    if Path(spec).suffix.lower() not in (".yaml", ".yml") and not Path(spec).is_file():
        raise LabelMapError(f"unknown label map {str(spec)!r}: use one of {', '.join(LABEL_MAPS)} "
                            "or the path of a YAML file {original: target}")
    return read_label_map(spec)


def apply_label_map(manifest: Manifest, label_map: LabelMap) -> tuple[Manifest, Counter]:
    """Relabel ``manifest``; returns the kept utterances and a Counter of dropped emotions.

    Unlabelled rows (empty emotion) are kept as they are.

    ``original_label`` is left as the corpus wrote it, so the relabelling can always be traced back.
    """
    kept = []
    dropped: Counter = Counter()
    for u in manifest:
        if not u.is_labelled:   # unlabelled rows pass through: there is nothing to map
            kept.append(u)
            continue
        target = label_map.target(u.emotion)
        if target is None:
            dropped[u.emotion] += 1
        else:
            kept.append(u if target == u.emotion else replace(u, emotion=target))
    if dropped:
        log.info("label map %s dropped %d utterance(s): %s", label_map.name, sum(dropped.values()),
                 ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    return Manifest(kept, manifest.source), dropped
