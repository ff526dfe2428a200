"""Every shared corpus prepared by its recipe agrees with its metadata.csv (rows, speakers, emotions)."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from after.data.corpora import get_recipe
from after.data.labels import EMOTIONS

SHARED = ["ravdess", "emodb_crop2s", "nemo", "turev_db"]


@pytest.fixture(scope="module")
def prepared(shared_data: Path):
    cache = {}

    def get(corpus_id: str):
        if corpus_id not in cache:
            root = shared_data / corpus_id
            if not root.is_dir():
                pytest.skip(f"{root} not found")
            cache[corpus_id] = get_recipe(corpus_id)(root).manifest
        return cache[corpus_id]

    return get


def test_ravdess_is_complete(prepared):
    m = prepared("ravdess")
    assert len(m) == 1440
    assert len(m.speakers()) == 24
    assert m.labels() == ["angry", "calm", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    u = m.by_id("ravdess_03-01-01-01-01-01-01")
    assert (u.speaker, u.gender, u.emotion, u.corpus) == ("ravdess_01", "m", "neutral", "ravdess")
    assert u.duration_s == pytest.approx(3.3033, abs=1e-3)
    assert u.extra["intensity"] == "normal"
    assert Counter(x.emotion for x in m)["neutral"] == 96


@pytest.mark.parametrize("corpus_id", SHARED)
def test_shared_corpus_matches_its_metadata(prepared, shared_data: Path, corpus_id: str):
    with open(shared_data / corpus_id / "metadata.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    m = prepared(corpus_id)
    assert len(m) == len(rows)
    assert m.speakers() == sorted({r["speaker"] for r in rows})
    assert Counter(u.emotion for u in m) == Counter(r["emotion"] for r in rows)
    assert all(u.id.startswith(f"{rows[0]['corpus']}_") for u in m)
    assert all(u.speaker.split("_")[0] in corpus_id for u in m)
    assert set(m.labels()) <= set(EMOTIONS)
    by_file = {(Path(r["file"]).stem): float(r["duration_s"]) for r in rows}
    for u in m:
        assert u.duration_s == pytest.approx(by_file[Path(u.path).stem], abs=0.01)
        assert Path(u.path).is_absolute() and Path(u.path).is_file()


def test_a_recipe_refuses_another_corpus_folder(shared_data: Path):
    root = shared_data / "nemo"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    with pytest.raises(ValueError, match="corpus 'nemo' is not ravdess"):
        get_recipe("ravdess")(root)
