"""The pool is the only door to labels; oracles answer, record, and (for people) wait for a filled-in CSV."""
from __future__ import annotations

import csv
import json

import pytest

from after.al.oracles import FileOracle, LabelsPending, MultiAnnotatorOracle, Oracle, SimulatedOracle
from after.al.pool import LabelPool, PoolError
from run_helpers import write_sheet

IDS = [f"utt{i}" for i in range(8)]
TRUTH = {i: ("ang" if n % 2 else "neu") for n, i in enumerate(IDS)}


def test_oracles_satisfy_the_protocol(tmp_path):
    assert isinstance(SimulatedOracle(TRUTH), Oracle)
    assert isinstance(MultiAnnotatorOracle({"a": ["x"]}), Oracle)
    assert isinstance(FileOracle(tmp_path / "l.csv", {}, ["x"]), Oracle)


def test_labels_come_only_from_the_oracle_and_only_once():
    oracle = SimulatedOracle(TRUTH)
    pool = LabelPool(IDS, oracle)
    assert pool.unlabelled_ids() == IDS and pool.labelled_ids() == []
    with pytest.raises(PoolError, match="not labelled"):
        pool.labels_for(["utt0"])
    assert oracle.n_queried == 0  # asking the pool for a label never reaches the oracle

    got = pool.label(["utt3", "utt0"], round=0)
    assert got == {"utt3": "ang", "utt0": "neu"}
    assert oracle.queries == [("utt3", "utt0")]
    assert pool.labels_for(["utt0", "utt3"]) == ["neu", "ang"]
    assert oracle.n_queried == 2  # reading labels back does not query again
    assert pool.labelled_ids() == ["utt3", "utt0"]
    assert pool.round_of("utt3") == 0 and pool.labelled_in(0) == ["utt3", "utt0"]
    with pytest.raises(PoolError, match="utt1"):
        pool.labels_for(["utt0", "utt1"])
    with pytest.raises(PoolError, match="already labelled"):
        pool.label(["utt0"], round=1)
    with pytest.raises(PoolError, match="not in the pool"):
        pool.label(["nope"], round=1)
    with pytest.raises(PoolError, match="round"):
        pool.label(["utt1"], round=-1)
    assert oracle.n_queried == 2


def test_pool_does_not_expose_the_truth():
    pool = LabelPool(IDS, SimulatedOracle(TRUTH))
    public = [name for name in dir(pool) if not name.startswith("_")]
    for name in public:
        value = getattr(pool, name)
        if not callable(value):
            assert "ang" not in repr(value) and "neu" not in repr(value), name


def test_oracle_must_answer_what_was_asked():
    class Sloppy:
        def query(self, ids):
            return {ids[0]: "neu"}

    pool = LabelPool(IDS, Sloppy())
    with pytest.raises(PoolError, match="answered"):
        pool.label(["utt0", "utt1"], round=0)
    assert pool.labelled_ids() == []


def test_save_and_resume(tmp_path):
    path = tmp_path / "run" / "pool.json"
    pool = LabelPool(IDS, MultiAnnotatorOracle({i: [TRUTH[i], "hap"] for i in IDS}), path=path)
    pool.label(["utt1", "utt2"], round=0)
    pool.label(["utt5"], round=1)
    assert not list(path.parent.glob("*.tmp"))
    state = json.loads(path.read_text())
    assert state["labelled"][2] == {"id": "utt5", "label": ["ang", "hap"], "round": 1}

    resumed = LabelPool.open(path, IDS, SimulatedOracle(TRUTH))
    assert resumed.labelled_ids() == ["utt1", "utt2", "utt5"]
    assert resumed.labels_for(["utt5"]) == [("ang", "hap")]
    assert resumed.round_of("utt5") == 1
    resumed.label(["utt7"], round=2)
    assert LabelPool.load(path, SimulatedOracle(TRUTH)).labelled_ids()[-1] == "utt7"
    with pytest.raises(PoolError, match="different pool"):
        LabelPool.load(path, SimulatedOracle(TRUTH), ids=IDS[:-1])
    fresh = LabelPool.open(tmp_path / "other.json", IDS, SimulatedOracle(TRUTH))
    assert fresh.labelled_ids() == []


def test_soft_labels_are_validated():
    class Soft:
        def query(self, ids):
            return {i: {"ang": 0.7, "neu": 0.3} for i in ids}

    pool = LabelPool(IDS, Soft())
    pool.label(["utt0"], round=0)
    assert pool.labels_for(["utt0"]) == [{"ang": 0.7, "neu": 0.3}]

    class Bad:
        def query(self, ids):
            return {i: {"ang": 0.7} for i in ids}

    with pytest.raises(PoolError, match="sum to 1"):
        LabelPool(IDS, Bad()).label(["utt0"], round=0)


def test_simulated_oracle_refuses_unknown_ids():
    with pytest.raises(KeyError):
        SimulatedOracle(TRUTH).query(["ghost"])


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def fill(path, labels):
    rows = read_rows(path)
    for row in rows:
        row["label"] = labels.get(row["id"], row["label"])
    write_sheet(path, rows)


def test_file_oracle_waits_for_people_then_answers(tmp_path):
    path = tmp_path / "to_label.csv"
    clips = {i: f"/audio/{i}.wav" for i in IDS}
    oracle = FileOracle(path, clips, ["ang", "neu"])
    pool = LabelPool(IDS, oracle)
    with pytest.raises(LabelsPending, match="re-run the same command") as info:
        pool.label(["utt0", "utt1"], round=0)
    assert info.value.n_pending == 2 and str(path) in str(info.value)
    assert pool.labelled_ids() == []
    assert [{k: r[k] for k in ("id", "path", "label")} for r in read_rows(path)] == [
        {"id": "utt0", "path": "/audio/utt0.wav", "label": ""}, {"id": "utt1", "path": "/audio/utt1.wav", "label": ""}]

    fill(path, {"utt0": " NEU "})
    with pytest.raises(LabelsPending) as info:
        pool.label(["utt0", "utt1"], round=0)
    assert info.value.n_pending == 1
    fill(path, {"utt1": "ang"})
    assert pool.label(["utt0", "utt1"], round=0) == {"utt0": "neu", "utt1": "ang"}

    # the next round appends, keeping the earlier labels in the file
    with pytest.raises(LabelsPending):
        pool.label(["utt2"], round=1)
    assert [r["label"] for r in read_rows(path)] == [" NEU ", "ang", ""]  # what people typed is kept as typed


def test_file_oracle_names_the_row_with_an_unknown_label(tmp_path):
    path = tmp_path / "to_label.csv"
    oracle = FileOracle(path, {i: f"{i}.wav" for i in IDS}, ["ang", "neu"])
    with pytest.raises(LabelsPending):
        oracle.query(["utt0", "utt1"])
    fill(path, {"utt0": "neu", "utt1": "angry"})
    with pytest.raises(ValueError, match=r"line 3 \(id 'utt1'\): label 'angry'"):
        oracle.query(["utt0", "utt1"])


def test_multi_annotator_oracle_returns_every_vote():
    oracle = MultiAnnotatorOracle({"a": ["ang", "ang", "neu"], "b": ["sad"]})
    assert oracle.query(["a", "b"]) == {"a": ("ang", "ang", "neu"), "b": ("sad",)}
    with pytest.raises(ValueError):
        MultiAnnotatorOracle({"a": []})
