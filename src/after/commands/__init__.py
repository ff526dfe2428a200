"""Subcommand registrars, one module per stage. Each exposes ``register(subparsers)``."""
from __future__ import annotations

from after.commands import al, data, gmpatl, predict, report, run, tapt, train

REGISTRARS = [data.register, tapt.register, al.register, train.register, gmpatl.register, predict.register,
              run.register, report.register]
