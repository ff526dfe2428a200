"""Arguments several subcommands share."""
from __future__ import annotations

from pathlib import Path


def add_config_run_arguments(p, config_help: str, set_help: str) -> None:
    """``CONFIG -o RUN_DIR [--set KEY=VALUE ...]`` as ``args.config``, ``args.out`` and ``args.overrides``."""
    p.add_argument("config", type=Path, help=config_help)
    p.add_argument("-o", "--out", type=Path, required=True, help="run directory")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=set_help)
