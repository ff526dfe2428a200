"""Data subcommands: prepare, merge, split, summary (being written)."""
from __future__ import annotations


def register(sub) -> None:
    return None
