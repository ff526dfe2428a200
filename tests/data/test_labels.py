"""Label maps: built-ins, user YAML maps, and counted drops."""
from __future__ import annotations

from pathlib import Path

import pytest

from after.data.labels import LABEL_MAPS, LabelMapError, apply_label_map, load_label_map, normalise_emotion

EMOTIONS = ("angry", "happy", "excited", "neutral", "sad", "calm", "no_agreement")


def test_4class_folds_excited_into_happy_and_drops_the_rest(toy):
    m = toy({"s1": 14}, emotions=EMOTIONS)
    out, dropped = apply_label_map(m, LABEL_MAPS["4class"])
    assert out.labels() == ["angry", "happy", "neutral", "sad"]
    assert sum(u.emotion == "happy" for u in out) == 4  # 2 happy + 2 excited
    assert dropped == {"calm": 2, "no_agreement": 2}
    assert len(out) + sum(dropped.values()) == len(m)
    excited = [u for u in m if u.emotion == "excited"][0]
    assert out.by_id(excited.id).original_label == "excited"


def test_keep_changes_nothing(toy):
    m = toy({"s1": 7}, emotions=EMOTIONS)
    out, dropped = apply_label_map(m, load_label_map("keep"))
    assert [u.emotion for u in out] == [u.emotion for u in m] and not dropped


def test_yaml_map_drops_unlisted_and_null(toy, tmp_path: Path):
    path = tmp_path / "arousal.yaml"
    path.write_text("angry: high\nHappiness: high\nsad: low\ncalm: low\nneutral: null\n", encoding="utf-8")
    label_map = load_label_map(path)
    out, dropped = apply_label_map(toy({"s1": 14}, emotions=EMOTIONS), label_map)
    assert out.labels() == ["high", "low"]
    assert sum(u.emotion == "high" for u in out) == 4
    assert dropped == {"neutral": 2, "excited": 2, "no_agreement": 2}


@pytest.mark.parametrize("text, match", [("- a\n- b\n", "non-empty mapping"), ("a: [b]\n", "must map"),
                                         ("a: b: c\n", "not valid YAML")])
def test_bad_yaml_maps_are_refused(tmp_path: Path, text: str, match: str):
    path = tmp_path / "map.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LabelMapError, match=match):
        load_label_map(path)


def test_unknown_builtin_names_the_choices():
    with pytest.raises(LabelMapError, match="keep, 4class"):
        load_label_map("5class")


@pytest.mark.parametrize("raw, norm", [("Anger", "angry"), ("Pleasant surprise", "surprise"), ("fearful", "fear"),
                                       ("SAD", "sad"), ("grumpy", "grumpy")])
def test_normalise_emotion(raw: str, norm: str):
    assert normalise_emotion(raw) == norm
