"""``ResultsStore``: write grid cells and their rounds idempotently; read them back for the report.

A cell is written in one transaction: its row is inserted or updated on ``(run, cell_key)``, and its
rounds and artifacts are replaced, so writing the same cell twice leaves one copy. On SQLite (the default,
``RUN_DIR/results.sqlite``) the file is in WAL mode, every write transaction starts with ``BEGIN
IMMEDIATE`` (a writer waits for the lock up front instead of failing when it upgrades) under a busy
timeout, and a write that still meets a locked database is retried: several processes can write cells to
one file at once. Any other SQLAlchemy URL (``postgresql://...``) works the same way.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from after.errors import AfterError
from after.results.schema import SCHEMA_VERSION, artifacts, cells, meta, metadata, rounds

log = logging.getLogger(__name__)

DB_FILENAME = "results.sqlite"
STATUSES = ("running", "done", "failed")
_READ_ONLY = "after_read_only"


class ResultsError(AfterError):
    """The results database cannot be opened or holds something unexpected."""


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the config as canonical JSON (sorted keys): equal configs, equal hashes."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class CellResult:
    """Everything stored about one grid cell; plain data, so it crosses process boundaries (Ray, pickle)."""

    run: str
    cell_key: str
    method: str
    strategy: str
    init: str
    label_ratio: float
    fold: int
    seed: int
    config: dict
    status: str = "done"
    tapt: bool = False
    baseline: bool = True
    error: str | None = None
    device: str | None = None
    cell_dir: str | None = None
    bundle_path: str | None = None
    seconds: dict = field(default_factory=dict)       # {stage: wall-clock seconds}
    test_ua: float | None = None
    test_wa: float | None = None
    test_f1: float | None = None
    aulc: float | None = None
    n_labelled: int | None = None
    n_val_labels: int | None = None
    pool_size: int | None = None
    classes: list | None = None
    confusion: list | None = None                     # [n_classes, n_classes] counts, rows = true class
    rounds: list = field(default_factory=list)        # round records as in rounds.jsonl
    artifacts: dict = field(default_factory=dict)     # {name: {"path": str} or {"value": json}}
    started_at: float | None = None
    finished_at: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ResultsError(f"cell {self.cell_key}: status {self.status!r} is not one of {STATUSES}")


def database_url(target: str | Path) -> str:
    """A run directory -> ``sqlite:///RUN_DIR/results.sqlite``; a ``*.sqlite``/``*.db`` file -> its URL;
    anything with ``://`` is taken as an SQLAlchemy URL as is."""
    text = str(target)
    if "://" in text:
        return text
    p = Path(text).expanduser().resolve()
    if p.suffix in (".sqlite", ".sqlite3", ".db"):
        return f"sqlite:///{p}"
    return f"sqlite:///{p / DB_FILENAME}"


def _sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None          # let SQLAlchemy's "begin" event issue BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # writers take the lock up front; readers start a plain snapshot, which WAL never blocks
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


class ResultsStore:
    """The results of one or more grid runs in one database."""

    def __init__(self, target: str | Path, busy_timeout_s: float = 60.0, retries: int = 8):
        self.url = database_url(target)
        self.retries = retries
        if self.url.startswith("sqlite:///"):
            Path(self.url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            # no pool: each operation opens its own connection, so a store is safe to use after fork
            self.engine = create_engine(self.url, poolclass=NullPool)
            _sqlite_pragmas(self.engine, int(busy_timeout_s * 1000))
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        self._retry(self._create)

    # -- writing ------------------------------------------------------------------------------------------

    def _create(self) -> None:
        with self._read() as conn:     # an existing database is only read: opening it takes no write lock
            version = self._version(conn) if inspect(conn).has_table(meta.name) else None
        if version is None:
            with self.engine.begin() as conn:
                metadata.create_all(conn)
                version = self._version(conn)
                if version is None:
                    conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                    version = SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            raise ResultsError(f"{self.url}: results schema version {version}, this after writes "
                               f"{SCHEMA_VERSION}; use a new run directory or database")

    @staticmethod
    def _version(conn) -> int | None:
        row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
        return None if row is None else int(row[0])

    def _retry(self, fn, *args):
        for attempt in range(self.retries + 1):
            try:
                return fn(*args)
            except (OperationalError, IntegrityError) as exc:
                # locked (SQLite) or a concurrent insert of the same key (any database): try again
                if attempt == self.retries:
                    raise ResultsError(f"{self.url}: could not write after {self.retries + 1} tries: "
                                       f"{exc.orig}") from exc
                delay = min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random())
                log.debug("results write retried in %.2f s: %s", delay, exc.orig)
                time.sleep(delay)

    def write_cell(self, result: CellResult) -> int:
        """Insert or update the cell on ``(run, cell_key)``, replace its rounds and artifacts; returns its id."""
        return self._retry(self._write_cell, result)

    def _write_cell(self, r: CellResult) -> int:
        cfg_json = json.dumps(r.config, sort_keys=True, default=str)
        values = {
            "run": r.run, "cell_key": r.cell_key, "method": r.method, "strategy": r.strategy, "init": r.init,
            "tapt": bool(r.tapt), "baseline": bool(r.baseline), "label_ratio": float(r.label_ratio),
            "fold": int(r.fold), "seed": int(r.seed), "status": r.status, "error": r.error,
            "config_json": cfg_json, "config_hash": config_hash(r.config), "device": r.device,
            "cell_dir": r.cell_dir, "bundle_path": r.bundle_path, "seconds_json": json.dumps(r.seconds),
            "seconds_total": float(sum(r.seconds.values())) if r.seconds else None,
            "test_ua": r.test_ua, "test_wa": r.test_wa, "test_f1": r.test_f1, "aulc": r.aulc,
            "n_labelled": r.n_labelled, "n_val_labels": r.n_val_labels, "pool_size": r.pool_size,
            "classes_json": json.dumps(r.classes) if r.classes is not None else None,
            "confusion_json": json.dumps(r.confusion) if r.confusion is not None else None,
            "started_at": r.started_at, "finished_at": r.finished_at,
        }
        with self.engine.begin() as conn:
            found = conn.execute(select(cells.c.id).where(cells.c.run == r.run,
                                                          cells.c.cell_key == r.cell_key)).first()
            if found is None:
                cell_id = conn.execute(cells.insert().values(**values)).inserted_primary_key[0]
            else:
                cell_id = found[0]
                conn.execute(cells.update().where(cells.c.id == cell_id).values(**values))
            conn.execute(rounds.delete().where(rounds.c.cell_id == cell_id))
            conn.execute(artifacts.delete().where(artifacts.c.cell_id == cell_id))
            if r.rounds:
                conn.execute(rounds.insert(), [_round_row(cell_id, rec) for rec in r.rounds])
            if r.artifacts:
                conn.execute(artifacts.insert(), [
                    {"cell_id": cell_id, "name": name, "path": a.get("path"),
                     "value_json": json.dumps(a["value"]) if "value" in a else None}
                    for name, a in r.artifacts.items()])
        return int(cell_id)

    # -- reading ------------------------------------------------------------------------------------------

    def _read(self):
        """A connection for reading (a deferred transaction: it waits for no writer)."""
        return self.engine.connect().execution_options(**{_READ_ONLY: True})

    def runs(self) -> list[str]:
        with self._read() as conn:
            return [row[0] for row in conn.execute(select(cells.c.run).distinct().order_by(cells.c.run))]

    def status(self, run: str, cell_key: str) -> str | None:
        """The stored status of a cell, or None when it was never written."""
        with self._read() as conn:
            row = conn.execute(select(cells.c.status).where(cells.c.run == run,
                                                            cells.c.cell_key == cell_key)).first()
        return None if row is None else row[0]

    def cells(self, run: str | None = None, status: str | None = "done") -> list[dict]:
        """Cell rows as dicts (JSON columns decoded: config, seconds, classes, confusion), in key order."""
        q = select(cells).order_by(cells.c.run, cells.c.method, cells.c.label_ratio, cells.c.fold, cells.c.seed)
        if run is not None:
            q = q.where(cells.c.run == run)
        if status is not None:
            q = q.where(cells.c.status == status)
        with self._read() as conn:
            return [_decode_cell(dict(row._mapping)) for row in conn.execute(q)]

    def rounds(self, cell_id: int) -> list[dict]:
        with self._read() as conn:
            rows = conn.execute(select(rounds).where(rounds.c.cell_id == cell_id).order_by(rounds.c.round))
            out = []
            for row in rows:
                d = dict(row._mapping)
                d["seconds"] = json.loads(d.pop("seconds_json") or "{}")
                d["selected"] = json.loads(d.pop("selected_json") or "[]")
                out.append(d)
            return out

    def artifacts(self, cell_id: int) -> dict[str, dict]:
        """``{name: {"path": str | None, "value": decoded JSON | None}}``."""
        with self._read() as conn:
            rows = conn.execute(select(artifacts).where(artifacts.c.cell_id == cell_id))
            return {row.name: {"path": row.path,
                               "value": json.loads(row.value_json) if row.value_json is not None else None}
                    for row in rows}

    def dispose(self) -> None:
        self.engine.dispose()


def _round_row(cell_id: int, rec: Mapping[str, Any]) -> dict:
    return {"cell_id": cell_id, "round": int(rec["round"]), "n_labelled": int(rec["n_labelled"]),
            "fraction": float(rec["fraction"]), "strategy": rec.get("strategy"),
            **{k: (float(rec[k]) if rec.get(k) is not None else None)
               for k in ("val_ua", "val_wa", "val_f1", "test_ua", "test_wa", "test_f1")},
            "seconds_json": json.dumps(rec.get("seconds", {})),
            "selected_json": json.dumps(list(rec.get("selected", [])))}


def _decode_cell(d: dict) -> dict:
    d["config"] = json.loads(d.pop("config_json"))
    d["seconds"] = json.loads(d.pop("seconds_json") or "{}")
    d["classes"] = json.loads(d.pop("classes_json")) if d.get("classes_json") else None
    d["confusion"] = json.loads(d.pop("confusion_json")) if d.get("confusion_json") else None
    return d
