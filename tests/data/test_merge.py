"""Merging manifests: label map, seeded balancing, corpus kept, duplicate ids refused."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from after.data.labels import LABEL_MAPS
from after.data.manifest import ManifestError, read_manifest, write_manifest
from after.data.merge import merge_manifests


def test_merge_relabels_and_keeps_the_corpus(toy):
    a = toy({"a1": 8}, emotions=("angry", "calm", "excited", "sad"), corpus="a")
    b = toy({"b1": 6}, emotions=("neutral", "happy", "fear"), corpus="b")
    result = merge_manifests([a, b], LABEL_MAPS["4class"])
    assert Counter(u.corpus for u in result.manifest) == {"a": 6, "b": 4}
    assert result.dropped == {"calm": 2, "fear": 2}
    assert result.manifest.labels() == ["angry", "happy", "neutral", "sad"]


def test_balance_downsamples_to_the_smallest_class_with_a_seed(toy):
    a = toy({"a1": 30}, emotions=("angry", "angry", "sad"), corpus="a")
    b = toy({"b1": 9}, emotions=("sad", "happy", "happy"), corpus="b")
    r1 = merge_manifests([a, b], LABEL_MAPS["keep"], balance=True, seed=3)
    r2 = merge_manifests([a, b], LABEL_MAPS["keep"], balance=True, seed=3)
    r3 = merge_manifests([a, b], LABEL_MAPS["keep"], balance=True, seed=4)
    assert Counter(u.emotion for u in r1.manifest) == {"angry": 6, "sad": 6, "happy": 6}
    assert r1.manifest.ids == r2.manifest.ids
    assert r1.manifest.ids != r3.manifest.ids
    assert r1.removed_by_balance == {"angry": 14, "sad": 7}


def test_duplicate_ids_across_inputs_name_both_files(toy, tmp_path: Path):
    m = toy({"s1": 3})
    first = write_manifest(m, tmp_path / "first.csv")
    second = write_manifest(m, tmp_path / "second.csv")
    with pytest.raises(ManifestError, match=r"'toy_s1_000' is in both .*first\.csv and .*second\.csv"):
        merge_manifests([read_manifest(first), read_manifest(second)], LABEL_MAPS["keep"])


def test_a_map_dropping_everything_is_an_error(toy):
    with pytest.raises(ValueError, match="dropped every utterance"):
        merge_manifests([toy({"s": 3}, emotions=("calm",))], LABEL_MAPS["4class"])
