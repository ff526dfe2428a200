"""Issue 7, point 5: inputs are checked where they enter (prepare and merge)."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from after.cli import main
from after.data.corpora import PrepareError, prepare_csv, prepare_folder
from after.data.labels import LabelMapError, read_label_map
from after.data.manifest import read_manifest

from tests.data.conftest import write_wav


def _corrupt_in_the_middle(path: Path) -> None:
    """A FLAC whose header and both ends decode, with 2000 zero bytes over its middle frames."""
    x = (0.1 * np.random.default_rng(0).standard_normal(48_000)).astype(np.float32)
    sf.write(str(path), x, 16_000)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 2000] = bytes(2000)
    path.write_bytes(bytes(data))


def test_a_flac_corrupted_in_the_middle_is_named_by_prepare(tree):
    root = tree(["angry/a_1.wav", "sad/b_1.wav"], root_name="mine")
    bad = root / "sad" / "b_2.flac"
    _corrupt_in_the_middle(bad)
    with sf.SoundFile(str(bad)) as fh:  # the old check (header + both ends) passes on this file
        fh.read(4096)
        fh.seek(fh.frames - 4096)
        assert fh.read(4096).shape[0] == 4096
    with pytest.raises(PrepareError) as err:
        prepare_folder(root)
    assert [Path(b.path).name for b in err.value.bad_files] == ["b_2.flac"]
    assert "cannot be decoded after" in str(err.value)
    assert len(prepare_folder(root, on_error="skip").manifest) == 2


def test_a_symlinked_label_folder_is_read(tree, tmp_path: Path):
    root = tree(["angry/spk1_1.wav", "angry/spk2_1.wav"], root_name="mine")
    elsewhere = tmp_path / "kept_elsewhere" / "sad_takes"
    for name in ("spk1_2.wav", "spk2_2.wav"):
        write_wav(elsewhere / name)
    os.symlink(elsewhere, root / "sad", target_is_directory=True)
    m = prepare_folder(root, speaker_regex=r"/(spk\d)_").manifest
    assert sorted((u.emotion, u.speaker) for u in m) == [
        ("angry", "mine_spk1"), ("angry", "mine_spk2"), ("sad", "mine_spk1"), ("sad", "mine_spk2")]
    assert all(Path(u.path).is_file() for u in m)


def test_a_symlink_loop_is_skipped_not_walked_forever(tree, caplog):
    root = tree(["angry/a_1.wav", "sad/b_1.wav"], root_name="mine")
    os.symlink(root, root / "angry" / "again", target_is_directory=True)   # angry/again -> the root
    m = prepare_folder(root).manifest
    assert len(m) == 2
    assert "symbolic link loop" in caplog.text and "again" in caplog.text


def _table(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "speaker"])
        for p, label in rows:
            w.writerow([p, label, "s1"])
    return path


def test_csv_paths_outside_the_table_folder_need_allow_outside_root(tmp_path: Path, capsys):
    write_wav(tmp_path / "other_place" / "x.wav")
    outside = write_wav(tmp_path / "other_place" / "y.wav")
    write_wav(tmp_path / "corpus" / "a.wav")
    write_wav(tmp_path / "corpus" / "b.wav")
    table = _table(tmp_path / "corpus" / "t.csv", [("a.wav", "angry"), ("b.wav", "sad"), ("../other_place/x.wav", "sad"),
                                                   (str(outside), "angry")])
    with pytest.raises(PrepareError) as err:
        prepare_csv(table)
    assert len(err.value.bad_files) == 2 and "outside the corpus root" in str(err.value)
    assert "--allow-outside-root" in str(err.value)
    assert len(prepare_csv(table, allow_outside_root=True).manifest) == 4
    out = tmp_path / "m.csv"
    assert main(["prepare", "csv", str(table), "-o", str(out), "--allow-outside-root"]) == 0
    assert len(read_manifest(out)) == 4


def test_prepare_warns_on_a_single_class_and_on_clips_shorter_than_the_receptive_field(tmp_path: Path, capsys):
    root = tmp_path / "mine"
    write_wav(root / "angry" / "long.wav", seconds=0.5)
    write_wav(root / "angry" / "tiny.wav", seconds=0.05)
    assert main(["prepare", "folder", str(root), "-o", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "one class 'angry'" in out
    assert "1 clip(s) are shorter than 0.1 s" in out and "mine_angry-tiny" in out


def test_prepare_and_merge_refuse_to_overwrite_without_force(tree, tmp_path: Path, capsys):
    root = tree(["angry/a_1.wav", "sad/b_1.wav"], root_name="mine")
    out = tmp_path / "m.csv"
    out.write_text("keep me\n")
    assert main(["prepare", "folder", str(root), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_text() == "keep me\n"
    assert main(["prepare", "folder", str(root), "-o", str(out), "--force"]) == 0
    merged = tmp_path / "merged.csv"
    merged.write_text("keep me too\n")
    assert main(["merge", str(out), "-o", str(merged)]) == 2
    assert "--force" in capsys.readouterr().err and merged.read_text() == "keep me too\n"
    assert main(["merge", str(out), "-o", str(merged), "--force"]) == 0
    assert len(read_manifest(merged)) == 2


def test_label_map_keys_differing_only_in_case_are_reported(tmp_path: Path, caplog):
    clash = tmp_path / "clash.yaml"
    clash.write_text("Angry: angry\nangry: null\nsad: sad\n")
    with pytest.raises(LabelMapError, match="keys 'Angry' and 'angry' name the same label"):
        read_label_map(clash)
    same = tmp_path / "same.yaml"
    same.write_text("Angry: angry\nangry: angry\nsad: sad\n")
    assert read_label_map(same).mapping == {"angry": "angry", "sad": "sad"}
    assert "name the same label" in caplog.text


def test_an_inline_label_map_in_a_config_gets_the_same_checks():
    from after.data.sources import _label_map

    lm = _label_map({"Anger": "angry", "Sad": "sad", "calm": None}, None)
    assert lm.mapping == {"angry": "angry", "sad": "sad", "calm": None}
    with pytest.raises(LabelMapError, match="data.labels: keys 'Angry' and 'angry'"):
        _label_map({"Angry": "angry", "angry": "sad"}, None)


def test_merge_reports_disjoint_label_vocabularies(tree, tmp_path: Path, capsys):
    a = tree(["angry/a_1.wav", "sad/a_2.wav"], root_name="one")
    b = tree(["Freude/b_1.wav", "Ekel/b_2.wav"], root_name="two")
    main(["prepare", "folder", str(a), "-o", str(tmp_path / "a.csv")])
    main(["prepare", "folder", str(b), "-o", str(tmp_path / "b.csv")])
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "-o", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "shares no label with the other manifests" in out and "b.csv" in out


def test_manifest_labels_differing_only_in_case_are_warned_about(toy):
    from after.data.checks import manifest_warnings

    warnings = manifest_warnings(toy({"a": 4}, emotions=("Angry", "angry", "sad", "sad")))
    assert any("labels Angry, angry differ only in case" in w for w in warnings)
    assert manifest_warnings(toy({"a": 4})) == []
