"""Subcommand registrars, one module per stage. Each exposes ``register(subparsers)``."""
from __future__ import annotations

from after.commands import al, data, gmpatl, train

REGISTRARS = [data.register, al.register, train.register, gmpatl.register]
