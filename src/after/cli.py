"""The `after` command. Thin: each stage registers its own subcommands; heavy imports happen in handlers."""
from __future__ import annotations

import argparse
import logging
import sys

from after import __version__
from after.errors import AfterError
from after.commands import REGISTRARS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="after",
        description="Label- and compute-efficient speech emotion recognition (AFTER: TAPT + active learning).",
    )
    parser.add_argument("--version", action="version", version=f"after {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except (AfterError, ValueError, FileNotFoundError, KeyError) as exc:
        # User-facing errors carry their own instructions; no traceback for them.
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"after {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
