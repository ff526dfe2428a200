"""The results database: idempotent upserts and concurrent writers on one SQLite file."""
from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from after.results.store import CellResult, ResultsError, ResultsStore, config_hash, database_url
from synthetic_cells import make_cell


def test_url_forms(tmp_path):
    assert database_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/results.sqlite"
    assert database_url(tmp_path / "x.db") == f"sqlite:///{(tmp_path / 'x.db').resolve()}"
    assert database_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_cell_round_trip_and_upsert_is_idempotent(tmp_path):
    store = ResultsStore(tmp_path)
    cell = make_cell("r1", "FT+Random", 0.2, 1, 0, ua=0.5)
    first = store.write_cell(cell)
    cell.test_ua = 0.6
    cell.rounds = cell.rounds[:1]
    assert store.write_cell(cell) == first                      # same (run, key): same row, updated
    rows = store.cells("r1")
    assert len(rows) == 1 and rows[0]["test_ua"] == 0.6
    assert rows[0]["config"] == cell.config and rows[0]["config_hash"] == config_hash(cell.config)
    assert rows[0]["seconds_total"] == pytest.approx(10.0)
    assert [r["round"] for r in store.rounds(first)] == [0]    # rounds replaced, not appended
    assert store.rounds(first)[0]["selected"] == ["clip0_0", "clip0_1", "clip0_2"]
    # the same key in another run is another cell
    store.write_cell(make_cell("r2", "FT+Random", 0.2, 1, 0, ua=0.1))
    assert store.runs() == ["r1", "r2"] and len(store.cells()) == 2


def test_artifacts_and_status(tmp_path):
    store = ResultsStore(tmp_path / "res.db")
    cell = make_cell("r", "AFTER", 0.2, 1, 0, ua=0.7, strategy="entropy", baseline=False)
    cell.status = "running"
    cell.artifacts = {"pool_embeddings": {"path": "/x/pool.npy"}, "pool_ids": {"value": ["a", "b"]}}
    cid = store.write_cell(cell)
    assert store.status("r", cell.cell_key) == "running" and store.status("r", "nope") is None
    assert store.cells("r") == []                              # only done cells by default
    assert store.artifacts(cid) == {"pool_embeddings": {"path": "/x/pool.npy", "value": None},
                                    "pool_ids": {"path": None, "value": ["a", "b"]}}


def test_bad_status_is_refused():
    with pytest.raises(ResultsError, match="status"):
        CellResult(run="r", cell_key="k", method="m", strategy="s", init="i", label_ratio=0.1, fold=1,
                   seed=0, config={}, status="finished")


def test_wal_mode(tmp_path):
    ResultsStore(tmp_path)
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _writer(path: str, name: str, n: int, barrier) -> None:
    store = ResultsStore(path)
    barrier.wait()                                             # both processes write at the same moment
    for i in range(n):
        store.write_cell(make_cell("grid", name, 0.1 * (1 + i % 5), i, 0, ua=i / n, rounds=5))
        store.write_cell(make_cell("grid", "shared", 0.1, i, 0, ua=0.5))   # the same keys from both writers


def test_two_processes_writing_at_once_both_land(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    n = 40
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), name, n, barrier)) for name in ("A", "B")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    rows = ResultsStore(tmp_path).cells("grid")
    keys = [r["cell_key"] for r in rows]
    assert len(keys) == len(set(keys)) == 3 * n                # A's n, B's n, the shared n once each
    assert sum(r["method"] == "A" for r in rows) == n and sum(r["method"] == "B" for r in rows) == n
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0] == 2 * n * 5 + n * 2


def test_a_reader_is_not_blocked_by_an_open_write(tmp_path):
    store = ResultsStore(tmp_path)
    store.write_cell(make_cell("r", "FT+Random", 0.2, 1, 0, ua=0.5))
    writer = sqlite3.connect(tmp_path / "results.sqlite", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")                     # another process holds the write lock
    writer.execute("UPDATE cells SET test_ua = 0.9")
    reader = ResultsStore(tmp_path, busy_timeout_s=0.1, retries=0)
    assert [c["test_ua"] for c in reader.cells("r")] == [0.5]   # the last committed state, at once
    writer.execute("ROLLBACK")
    writer.close()
