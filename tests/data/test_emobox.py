"""Importing EmoBox fold files (data/<dataset>/fold_N/<dataset>_{train,test}_fold_N.jsonl)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from after.data.manifest import Manifest
from after.data.splits import import_emobox


def _record(uid: str, wav: str, emo: str) -> dict:
    return {"key": uid, "dataset": "toy", "wav": wav, "type": "raw", "sample_rate": 16000, "num_frame": 16000.0,
            "task": "category", "length": 1.0, "emo": emo, "channel": 1}


def _write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _emobox(root: Path, m: Manifest, test_speakers: list[set[str]], key_style: str) -> Path:
    for k, tests in enumerate(test_speakers, start=1):
        for split in ("train", "test"):
            rows = [u for u in m if (u.speaker in tests) == (split == "test")]
            recs = [_record(u.id.replace("toy_", "toy-", 1) if key_style == "key" else f"x-{k}-{u.id}",
                            f"downloads/toy/{Path(u.path).name}", u.emotion) for u in rows]
            if split == "test" and k == 1:
                recs.append(_record("toy-not-ours", "downloads/toy/missing.wav", "Angry"))
            _write(root / f"fold_{k}" / f"toy_{split}_fold_{k}.jsonl", recs)
    return root


@pytest.mark.parametrize("key_style", ["key", "file name"])
def test_import_matches_by_key_or_file_name(toy, tmp_path: Path, key_style: str):
    m = toy({f"s{i}": 5 for i in range(6)})
    root = _emobox(tmp_path / "toy", m, [{"s0", "s1"}, {"s2", "s3"}, {"s4", "s5"}], key_style)
    folds = import_emobox(root, m, val_fraction=0.2, seed=0)
    spk = {u.id: u.speaker for u in m}
    assert [f.index for f in folds] == [1, 2, 3]
    assert {spk[i] for i in folds[0].test} == {"s0", "s1"}
    for f in folds:
        assert len(f.train) + len(f.val) + len(f.test) == len(m)
        val, train = {spk[i] for i in f.val}, {spk[i] for i in f.train}
        assert val and not val & train and not val & {spk[i] for i in f.test}


def test_official_valid_file_is_used(toy, tmp_path: Path):
    m = toy({"a": 2, "b": 2, "c": 2})
    root = tmp_path / "toy"
    by = {s: [u for u in m if u.speaker == s] for s in "abc"}
    for split, spk in (("train", "a"), ("valid", "b"), ("test", "c")):
        _write(root / "fold_1" / f"toy_{split}_fold_1.jsonl", [_record(u.id, u.path, u.emotion) for u in by[spk]])
    (fold,) = import_emobox(root, m)
    assert set(fold.val) == {u.id for u in by["b"]} and set(fold.train) == {u.id for u in by["a"]}


def test_folds_of_another_corpus_are_refused(toy, tmp_path: Path):
    m = toy({"a": 2, "b": 2})
    root = tmp_path / "other"
    for split in ("train", "test"):
        _write(root / "fold_1" / f"other_{split}_fold_1.jsonl", [_record("other-1", "x/other1.wav", "Sad")])
    with pytest.raises(ValueError, match="none of its 1 records matches"):
        import_emobox(root, m)
    with pytest.raises(FileNotFoundError, match="no fold_N folders"):
        import_emobox(tmp_path, m)
