"""Issue 8, point 3: the csv recipe reads the shared metadata.csv tables as they are."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from after.cli import main
from after.data.corpora import prepare_csv
from after.data.manifest import read_manifest

SHARED = ["ravdess", "emodb_crop2s", "nemo", "turev_db"]


@pytest.mark.parametrize("corpus_id", SHARED)
def test_prepare_csv_reads_a_shared_metadata_table(shared_data: Path, corpus_id: str, tmp_path: Path, capsys):
    table = shared_data / corpus_id / "metadata.csv"
    if not table.is_file():
        pytest.skip(f"{table} not found")
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = tmp_path / "m.csv"
    assert main(["prepare", "csv", str(table), "-o", str(out)]) == 0
    corpus = rows[0]["corpus"]
    printed = capsys.readouterr().out
    assert f"Prepared {corpus} (csv recipe): {len(rows)} utterances" in printed
    header = next(csv.reader(open(out, encoding="utf-8")))
    assert len(header) == len(set(header)), f"duplicated column(s): {[c for c, n in Counter(header).items() if n > 1]}"
    m = read_manifest(out, check_files=True)
    assert len(m) == len(rows)
    assert {u.corpus for u in m} == {corpus}
    assert m.speakers() == sorted({r["speaker"] for r in rows})          # ravdess_01, not metadata_ravdess_01
    assert Counter(u.emotion for u in m) == Counter(r["emotion"] for r in rows)
    assert all(u.id.startswith(f"{corpus}_") for u in m)
    by_file = {str((table.parent / r["file"]).resolve()): r for r in rows}
    for u in m:
        r = by_file[u.path]
        assert (u.gender, u.language, u.original_label) == (r["gender"], r["language"], r["original_label"])


def test_a_given_corpus_name_wins_and_a_plain_table_prefixes_its_speakers(tmp_path: Path, make_wav):
    for name in ("a.wav", "b.wav"):
        make_wav(tmp_path / "t" / name)
    table = tmp_path / "t" / "labels.csv"
    table.write_text("path,label,speaker\na.wav,Anger,s1\nb.wav,sad,s2\n", encoding="utf-8")
    m = prepare_csv(table).manifest
    assert {u.corpus for u in m} == {"labels"} and m.speakers() == ["labels_s1", "labels_s2"]
    m = prepare_csv(table, corpus_name="Mine").manifest
    assert {u.corpus for u in m} == {"mine"} and m.speakers() == ["mine_s1", "mine_s2"]
    assert m.ids == ["mine_a", "mine_b"] and m.labels() == ["angry", "sad"]
