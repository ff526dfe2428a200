"""Folds are checked against the manifest they were made from (issue 7): in `after summary --folds`, and
(through load_dataset) in `after train` and `after al`."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from after.cli import main
from after.data.folds import Fold, FoldsError, check_folds, read_folds, write_folds
from after.data.manifest import Manifest, write_manifest
from after.data.sources import DataConfig, load_dataset
from after.data.splits import split_by_group

from .conftest import toy_manifest


@pytest.fixture
def m():
    return toy_manifest({f"s{i}": 4 for i in range(6)}, sessions={f"s{i}": f"sess{i // 2}" for i in range(6)})


def test_folds_made_from_the_manifest_pass(m):
    check_folds(split_by_group(m, "speaker", 3, 0.2, seed=0), m)
    check_folds(split_by_group(m, "session", 3, 0.0, seed=0), m, by="session")


def test_folds_from_another_manifest_are_refused(m):
    other = toy_manifest({f"s{i}": 4 for i in range(6)}, corpus="other")
    with pytest.raises(FoldsError, match=r"folds: 24 id\(s\) are not in the manifest .*'other_s0_000'"):
        check_folds(split_by_group(other, "speaker", 3, 0.2, seed=0), m)


def test_folds_covering_half_the_manifest_are_refused(m):
    half = toy_manifest({f"s{i}": 4 for i in range(3)})
    with pytest.raises(FoldsError, match=r"fold 1 leaves 12 of 24 manifest rows out of train, val and test, "
                                         r"e\.g\. 'toy_s3_000'"):
        check_folds(split_by_group(half, "speaker", 3, 0.0, seed=0), m)


def test_folds_not_speaker_disjoint_are_refused(m):
    ids = m.ids
    leaky = [Fold(1, tuple(ids[2:]), (), tuple(ids[:2]))]           # s0's first two clips tested, two trained
    with pytest.raises(FoldsError, match=r"fold 1 is not speaker-independent: 1 speaker\(s\) are in its test split "
                                         r"and also in training or validation \(2 rows\), e\.g\. 's0'"):
        check_folds(leaky, m)
    # speaker-disjoint folds whose sessions are shared are refused when kept apart by session
    by_speaker = [Fold(1, tuple(i for i in ids if "_s1_" not in i), (), tuple(i for i in ids if "_s1_" in i))]
    check_folds(by_speaker, m)
    with pytest.raises(FoldsError, match="not session-independent"):
        check_folds(by_speaker, m, by="session")


def test_summary_checks_the_folds(m, tmp_path, capsys):
    write_manifest(m, tmp_path / "m.csv")
    ids = m.ids
    write_folds([Fold(1, tuple(ids[2:]), (), tuple(ids[:2]))], tmp_path / "folds.csv")
    assert main(["summary", str(tmp_path / "m.csv"), "--folds", str(tmp_path / "folds.csv")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "folds.csv") in err and "not speaker-independent" in err
    write_folds(split_by_group(m, "speaker", 3, 0.2, seed=0), tmp_path / "good.csv")
    assert main(["summary", str(tmp_path / "m.csv"), "--folds", str(tmp_path / "good.csv")]) == 0


def test_load_dataset_checks_against_the_manifest_before_the_label_map(m, tmp_path):
    for u in m:                                  # load_dataset checks that every audio file exists
        (tmp_path / Path(u.path).name).touch()
    m = Manifest([replace(u, path=str(tmp_path / Path(u.path).name)) for u in m])
    write_manifest(m, tmp_path / "m.csv")
    write_folds(split_by_group(m, "speaker", 3, 0.2, seed=0), tmp_path / "folds.csv")
    cfg = DataConfig(manifest=str(tmp_path / "m.csv"), folds=str(tmp_path / "folds.csv"),
                     labels={"angry": "angry", "happy": "happy", "neutral": "", "sad": ""})
    mapped, folds = load_dataset(cfg, None, tmp_path)
    assert len(mapped) == 12 and sum(len(f.test) for f in folds) == 12     # dropped rows leave the folds too
    half = [Fold(f.index, f.train[:3], f.val, f.test) for f in read_folds(tmp_path / "folds.csv")]
    write_folds(half, tmp_path / "folds.csv")
    with pytest.raises(FoldsError, match="manifest rows out of train, val and test"):
        load_dataset(cfg, None, tmp_path)


def test_folds_made_after_the_label_map_are_accepted_with_the_full_manifest(m, tmp_path):
    """What a run with data.corpora leaves (manifest.csv with every row, folds.csv over the mapped rows) can be
    given back as data.manifest + data.folds with the same label map; rows the map keeps must all be covered."""
    for u in m:
        (tmp_path / Path(u.path).name).touch()
    m = Manifest([replace(u, path=str(tmp_path / Path(u.path).name)) for u in m])
    write_manifest(m, tmp_path / "m.csv")
    labels = {"angry": "angry", "happy": "happy", "neutral": "", "sad": ""}
    kept = Manifest([u for u in m if u.emotion in ("angry", "happy")])
    write_folds(split_by_group(kept, "speaker", 3, 0.2, seed=0), tmp_path / "folds.csv")
    cfg = DataConfig(manifest=str(tmp_path / "m.csv"), folds=str(tmp_path / "folds.csv"), labels=labels)
    mapped, folds = load_dataset(cfg, None, tmp_path)
    assert len(mapped) == 12 and sorted(i for f in folds for i in f.test) == sorted(kept.ids)
    short = [Fold(f.index, f.train[1:], f.val, f.test) for f in read_folds(tmp_path / "folds.csv")]
    write_folds(short, tmp_path / "folds.csv")                 # a row the map keeps left out: still refused
    with pytest.raises(FoldsError, match="manifest rows out of train, val and test"):
        load_dataset(cfg, None, tmp_path)
