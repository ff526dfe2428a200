"""Tables of the results database.

``cells``      one row per grid cell (method x label ratio x fold x seed), unique on ``(run, cell_key)``;
``rounds``     one row per active-learning round of a cell, unique on ``(cell_id, round)``;
``artifacts``  named files or small JSON values a report needs beside the numbers (the pool embeddings
               for the t-SNE, the pool ids in their row order), unique on ``(cell_id, name)``.

JSON columns are plain text so that any database SQLAlchemy speaks (SQLite, PostgreSQL, ...) stores them.
"""
from __future__ import annotations

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

SCHEMA_VERSION = 1

metadata = MetaData()

cells = Table(
    "cells", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run", String(200), nullable=False),          # which grid run; several runs can share a database
    Column("cell_key", String(200), nullable=False),     # e.g. "FT+Entropy/r0.2/f1/s0"
    Column("method", String(100), nullable=False),       # a name from the method table (FT+Random, AFTER, ...)
    Column("strategy", String(50), nullable=False),      # acquisition, a key of after.al.strategies.STRATEGIES
    Column("init", String(50), nullable=False),          # cold start, a key of after.al.coldstart.COLD_STARTS
    Column("tapt", Boolean, nullable=False, default=False),
    Column("baseline", Boolean, nullable=False, default=True),   # the report's t-test compares non-baselines to these
    Column("label_ratio", Float, nullable=False),        # labelled share of the pool the cell ends at (0, 1]
    Column("fold", Integer, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("status", String(20), nullable=False),        # running | done | failed
    Column("error", Text),                               # failed: the message
    Column("config_json", Text, nullable=False),         # the resolved config of the cell
    Column("config_hash", String(64), nullable=False),   # sha256 of config_json (sorted keys)
    Column("device", String(100)),
    Column("cell_dir", Text),                            # the cell's own run directory
    Column("bundle_path", Text),                         # the cell's model bundle, once one is written
    Column("seconds_json", Text),                        # {stage: wall-clock seconds}, e.g. tapt, embed, select, train
    Column("seconds_total", Float),
    Column("test_ua", Float),
    Column("test_wa", Float),
    Column("test_f1", Float),
    Column("aulc", Float),
    Column("n_labelled", Integer),                       # training labels bought from the oracle
    Column("n_val_labels", Integer),                     # validation labels (labels spent too)
    Column("pool_size", Integer),
    Column("classes_json", Text),                        # ["angry", ...], the confusion matrix's order
    Column("confusion_json", Text),                      # [[count]] test confusion matrix, rows = true class
    Column("started_at", Float),                         # unix seconds
    Column("finished_at", Float),
    UniqueConstraint("run", "cell_key", name="uq_cells_run_key"),
)

rounds = Table(
    "rounds", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cell_id", Integer, ForeignKey("cells.id", ondelete="CASCADE"), nullable=False),
    Column("round", Integer, nullable=False),
    Column("n_labelled", Integer, nullable=False),
    Column("fraction", Float, nullable=False),
    Column("strategy", String(50)),
    Column("val_ua", Float), Column("val_wa", Float), Column("val_f1", Float),
    Column("test_ua", Float), Column("test_wa", Float), Column("test_f1", Float),
    Column("seconds_json", Text),                        # {score, select, train, evaluate}
    Column("selected_json", Text),                       # the pool ids chosen in this round
    UniqueConstraint("cell_id", "round", name="uq_rounds_cell_round"),
)

artifacts = Table(
    "artifacts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cell_id", Integer, ForeignKey("cells.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),         # pool_embeddings (npy [n_pool, d]), pool_ids, ...
    Column("path", Text),                                # a file beside the database or in the cell directory
    Column("value_json", Text),                          # or a small value inline
    UniqueConstraint("cell_id", "name", name="uq_artifacts_cell_name"),
)

meta = Table(
    "after_meta", metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Text, nullable=False),
)
