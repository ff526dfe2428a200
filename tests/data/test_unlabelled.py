"""Issue 8, point 1: a manifest row with an empty emotion is unlabelled; what needs labels refuses it."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from after.cli import main
from after.data.labels import LABEL_MAPS, apply_label_map
from after.data.manifest import Manifest, ManifestError, read_manifest, require_labelled, write_manifest
from after.data.merge import merge_manifests
from after.data.sources import DataConfig, load_dataset
from after.data.splits import split_by_group

from tests.data.conftest import toy_manifest, write_wav


def _half_unlabelled(tmp_path: Path) -> Manifest:
    m = toy_manifest({"a": 4, "b": 4, "c": 4})
    rows = [replace(u, emotion="", original_label="") if i % 2 else u for i, u in enumerate(m)]
    for u in rows:
        write_wav(Path(tmp_path / "audio" / Path(u.path).name))
    return Manifest(replace(u, path=str(tmp_path / "audio" / Path(u.path).name)) for u in rows)


def test_round_trip_and_helpers(tmp_path: Path):
    m = _half_unlabelled(tmp_path)
    back = read_manifest(write_manifest(m, tmp_path / "m.csv"))
    assert [u.emotion for u in back] == [u.emotion for u in m]
    assert len(back.labelled()) == 6 and len(back.unlabelled()) == 6
    assert all(u.is_labelled for u in back.labelled()) and not any(u.is_labelled for u in back.unlabelled())
    assert back.labels() == ["angry", "neutral"]       # "" is not a class (the odd rows, happy and sad, lost theirs)
    assert require_labelled(back.labelled(), "x") is not None
    with pytest.raises(ManifestError, match=r"--balance needs labels, but 6 of 12 row\(s\).*toy_a_001"):
        require_labelled(back, "--balance")


def test_label_maps_keep_unlabelled_rows_and_balance_refuses_them(tmp_path: Path):
    m = _half_unlabelled(tmp_path)
    kept, dropped = apply_label_map(m, LABEL_MAPS["4class"])
    assert len(kept) == 12 and not dropped
    with pytest.raises(ManifestError, match="--balance needs labels"):
        merge_manifests([m], LABEL_MAPS["keep"], balance=True)


def test_split_places_unlabelled_rows_by_speaker(tmp_path: Path):
    m = _half_unlabelled(tmp_path)
    folds = split_by_group(m, "speaker", 3, val_fraction=0.0)
    assert sorted(i for f in folds for i in f.test) == sorted(m.ids)
    for f in folds:
        assert len({m.by_id(i).speaker for i in f.test}) == 1


def test_cli_summary_merge_split_show_labelled_and_unlabelled_counts(tmp_path: Path, capsys):
    path = write_manifest(_half_unlabelled(tmp_path), tmp_path / "m.csv")
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "12 utterances (6 labelled, 6 unlabelled)" in out and "(unlabelled)" in out
    assert main(["merge", str(path), "-o", str(tmp_path / "merged.csv")]) == 0
    assert "12 utterances (6 unlabelled)" in capsys.readouterr().out
    assert main(["split", str(path), "--folds", "3", "--val-fraction", "0", "-o", str(tmp_path / "f.csv")]) == 0
    out = capsys.readouterr().out
    assert "6 unlabelled row(s) are placed by their speaker" in out and "4/0/2" in out


def test_an_experiment_refuses_unlabelled_rows_naming_them(tmp_path: Path):
    path = write_manifest(_half_unlabelled(tmp_path), tmp_path / "m.csv")
    main(["split", str(path), "--folds", "3", "--val-fraction", "0", "-o", str(tmp_path / "f.csv")])
    cfg = DataConfig(manifest=str(path), folds=str(tmp_path / "f.csv"))
    with pytest.raises(ManifestError, match="data.manifest needs labels.*toy_a_001"):
        load_dataset(cfg, None, tmp_path / "run")
