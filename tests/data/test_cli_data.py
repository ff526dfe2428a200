"""The data subcommands through ``after.cli.main``: prepare, merge, split, summary."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from after.cli import main
from after.data.folds import read_folds
from after.data.manifest import read_manifest

EMOTION_CODES = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear"}


@pytest.fixture
def mini_ravdess(tree) -> Path:
    """6 actors x 6 emotions, official naming."""
    return tree([f"Actor_{a:02d}/03-01-{e}-01-01-01-{a:02d}.wav" for a in range(1, 7) for e in EMOTION_CODES],
                root_name="ravdess")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_prepare_shared_ravdess(shared_data: Path, tmp_path: Path, capsys):
    out = tmp_path / "ravdess.csv"
    assert main(["prepare", "ravdess", str(shared_data / "ravdess"), "-o", str(out)]) == 0
    m = read_manifest(out, check_files=True)
    assert (len(m), len(m.speakers()), len(m.labels())) == (1440, 24, 8)
    assert "Prepared ravdess: 1440 utterances, 24 speakers, 8 emotions" in capsys.readouterr().out
    header = next(csv.reader(open(out, encoding="utf-8")))
    assert header[:11] == ["id", "path", "corpus", "speaker", "gender", "emotion", "original_label", "language",
                           "duration_s", "session", "text"]


def test_prepare_with_4class_reports_drop_counts(mini_ravdess: Path, tmp_path: Path, capsys):
    out = tmp_path / "m.csv"
    assert main(["prepare", "ravdess", str(mini_ravdess), "-o", str(out), "--labels", "4class"]) == 0
    assert "Label map 4class dropped 12 utterance(s): calm 6, fear 6" in capsys.readouterr().out
    assert Counter(r["emotion"] for r in _rows(out)) == {"angry": 6, "happy": 6, "neutral": 6, "sad": 6}


def test_prepare_fails_on_bad_files_then_skips_them(mini_ravdess: Path, tmp_path: Path, capsys):
    (mini_ravdess / "Actor_01/03-01-07-01-01-01-01.wav").write_bytes(b"not audio at all")
    sf.write(str(mini_ravdess / "Actor_02/03-01-07-01-01-01-02.wav"), np.zeros((0, 1)), 16_000)
    out = tmp_path / "m.csv"
    assert main(["prepare", "ravdess", str(mini_ravdess), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "03-01-07-01-01-01-01.wav" in err and "03-01-07-01-01-01-02.wav" in err and "--on-error skip" in err
    assert not out.exists()
    assert main(["prepare", "ravdess", str(mini_ravdess), "-o", str(out), "--on-error", "skip"]) == 0
    text = capsys.readouterr().out
    assert "Skipped 2 bad file(s)" in text and "03-01-07-01-01-01-02.wav: contains no samples" in text
    assert len(_rows(out)) == 36


def test_prepare_folder_needs_speaker_regex_for_independent_folds(tree, tmp_path: Path, capsys):
    root = tree(["angry/a_1.wav", "sad/b_1.wav"], root_name="mine")
    assert main(["prepare", "folder", str(root), "-o", str(tmp_path / "m.csv")]) == 0
    assert "NOT be speaker-independent" in capsys.readouterr().out
    assert main(["prepare", "ravdess", str(root), "-o", str(tmp_path / "x.csv"), "--speaker-regex", "x"]) == 2
    assert "applies to the audio, csv, folder recipe(s) only" in capsys.readouterr().err


def test_merge_split_summary(mini_ravdess: Path, tree, tmp_path: Path, capsys):
    rav = tmp_path / "ravdess.csv"
    main(["prepare", "ravdess", str(mini_ravdess), "-o", str(rav)])
    other = tree([f"{e}/spk{s}_{i}.wav" for e in ("Anger", "Excited", "Sadness") for s in (1, 2) for i in (1, 2)],
                 root_name="other")
    oth = tmp_path / "other.csv"
    main(["prepare", "folder", str(other), "-o", str(oth), "--speaker-regex", r"/(spk\d)_"])
    merged = tmp_path / "merged.csv"
    assert main(["merge", str(rav), str(oth), "--labels", "4class", "--balance", "--seed", "1", "-o", str(merged)]) == 0
    text = capsys.readouterr().out
    assert "dropped 12 utterance(s): calm 6, fear 6" in text
    rows = _rows(merged)
    assert Counter(r["emotion"] for r in rows) == {"angry": 6, "happy": 6, "neutral": 6, "sad": 6}
    assert {r["corpus"] for r in rows} == {"ravdess", "other"}

    folds_csv = tmp_path / "folds.csv"
    assert main(["split", str(merged), "--by", "speaker", "--folds", "4", "--val-fraction", "0.1",
                 "--seed", "0", "-o", str(folds_csv)]) == 0
    m = read_manifest(merged)
    folds = read_folds(folds_csv, known_ids=m.ids)
    assert len(folds) == 4 and sorted(i for f in folds for i in f.test) == sorted(m.ids)
    before = folds_csv.read_text()
    capsys.readouterr()
    assert main(["split", str(merged), "--folds", "3", "-o", str(folds_csv)]) == 2
    assert "never silently recomputed" in capsys.readouterr().err
    assert folds_csv.read_text() == before
    assert main(["split", str(merged), "--folds", "3", "-o", str(folds_csv), "--force"]) == 0
    assert len(read_folds(folds_csv)) == 3

    assert main(["summary", str(merged), "--folds", str(folds_csv)]) == 0
    text = capsys.readouterr().out
    assert "24 utterances" in text and "ravdess_01" in text and "other_spk1" in text
    assert "folds (speaker-independent)" in text


def test_split_errors_are_clear(mini_ravdess: Path, tmp_path: Path, capsys):
    rav = tmp_path / "ravdess.csv"
    main(["prepare", "ravdess", str(mini_ravdess), "-o", str(rav)])
    capsys.readouterr()
    assert main(["split", str(rav), "--folds", "7", "-o", str(tmp_path / "f.csv")]) == 2
    assert "cannot make 7 speaker-independent folds from 6 speaker(s)" in capsys.readouterr().err
    assert main(["split", str(rav), "--by", "session", "--folds", "2", "-o", str(tmp_path / "f.csv")]) == 2
    assert "have no session" in capsys.readouterr().err
    assert not (tmp_path / "f.csv").exists()
