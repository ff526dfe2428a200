"""The label sheet names the annotator asked about a clip (individual entropy asks pairs), and old sheets
without that column are still read."""
from __future__ import annotations

import csv

import pytest

from after.al.label_sheet import LabelSheetError
from after.al.oracles import FileOracle, LabelsPending
from after.al.pool import LabelPool

CLASSES = ["ang", "neu", "sad"]


def _clips(tmp_path, n=3):
    out = {}
    for k in range(n):
        p = tmp_path / f"c{k}.flac"
        p.write_bytes(b"")
        out[f"c{k}"] = str(p)
    return out


def _rows(path):
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _fill(path, answers):
    rows = _rows(path)
    for r in rows:
        key = (r["id"], r.get("annotator", ""))
        r["label"] = r["label"] or answers.get(key, "")
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_a_pair_row_names_the_annotator_and_only_that_answer_is_returned(tmp_path):
    sheet = tmp_path / "to_label.csv"
    oracle = FileOracle(sheet, _clips(tmp_path), CLASSES)
    pool = LabelPool(list(_clips(tmp_path)), oracle)
    with pytest.raises(LabelsPending) as wait:
        pool.label_pairs([("c1", "alice"), ("c1", "bob"), ("c2", "bob")], round=1)
    assert wait.value.n_pending == 3 and pool.labelled_ids() == [] and pool.asked_pairs() == []
    rows = _rows(sheet)
    assert [(r["id"], r["annotator"]) for r in rows] == [("c1", "alice"), ("c1", "bob"), ("c2", "bob")]
    assert list(rows[0])[:2] == ["id", "annotator"] and list(rows[0])[-1] == "label"
    _fill(sheet, {("c1", "alice"): "SAD", ("c1", "bob"): "neu;sad", ("c2", "bob"): "skip"})
    got = pool.label_pairs([("c1", "alice"), ("c1", "bob"), ("c2", "bob")], round=1)
    assert got == {("c1", "alice"): "sad", ("c1", "bob"): "neu;sad", ("c2", "bob"): None}
    assert pool.labels_for(["c1"]) == [("alice:sad", "bob:neu;sad")] and not pool.is_labelled("c2")
    # the same clip asked of carol later: a new row; the earlier answers stay
    with pytest.raises(LabelsPending):
        pool.label_pairs([("c1", "carol")], round=2)
    assert [(r["id"], r["annotator"], r["label"]) for r in _rows(sheet)][-1] == ("c1", "carol", "")


def test_an_old_sheet_without_the_annotator_column_is_read_and_extended(tmp_path):
    sheet = tmp_path / "to_label.csv"
    clips = _clips(tmp_path)
    sheet.write_text(f"id,path,label,note\nc0,{clips['c0']},ang,checked twice\n", encoding="utf-8")
    oracle = FileOracle(sheet, clips, CLASSES)
    assert oracle.query(["c0"]) == {"c0": "ang"}                  # read as before
    with pytest.raises(LabelsPending):
        oracle.query_pairs([("c1", "bob")])
    rows = _rows(sheet)
    assert [(r["id"], r["annotator"], r["label"], r["note"]) for r in rows] == [
        ("c0", "", "ang", "checked twice"), ("c1", "bob", "", "")]
    assert oracle.query(["c0"]) == {"c0": "ang"}                  # the clip row keeps its meaning


def test_a_team_roster_asks_each_annotator_in_a_row_of_their_own(tmp_path):
    sheet = tmp_path / "to_label.csv"
    oracle = FileOracle(sheet, _clips(tmp_path), CLASSES, annotators=("alice", "bob"))
    with pytest.raises(LabelsPending) as wait:
        oracle.query(["c0", "c1"])
    assert wait.value.n_pending == 4
    _fill(sheet, {("c0", "alice"): "ang", ("c0", "bob"): "sad", ("c1", "alice"): "unsure", ("c1", "bob"): "skip"})
    got = oracle.query(["c0", "c1"])
    assert got["c0"] == ("alice:ang", "bob:sad") and got["c1"] == "skip"      # everyone skipped c1
    with pytest.raises(ValueError, match="annotators"):
        FileOracle(sheet, {}, CLASSES, annotators=("a:b",))


def test_a_used_pair_vote_cannot_change_silently(tmp_path):
    sheet = tmp_path / "to_label.csv"
    oracle = FileOracle(sheet, _clips(tmp_path), CLASSES)
    pool = LabelPool(list(_clips(tmp_path)), oracle)
    with pytest.raises(LabelsPending):
        pool.label_pairs([("c0", "alice")], round=1)
    _fill(sheet, {("c0", "alice"): "ang"})
    pool.label_pairs([("c0", "alice")], round=1)
    used = {i: (lab, pool.round_of(i)) for i, lab in zip(pool.labelled_ids(), pool.labels_for(pool.labelled_ids()))}
    oracle.check_unchanged(used)                                  # unchanged: accepted
    rows = _rows(sheet)
    rows[0]["label"] = "sad"
    with open(sheet, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(LabelSheetError, match="line 2: clip 'c0' now says 'sad'"):
        oracle.check_unchanged(used)
