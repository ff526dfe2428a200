"""The `after` command. Thin: each stage registers its own subcommands; heavy imports happen in handlers."""
from __future__ import annotations

import argparse
import errno
import logging
import sys
import traceback

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
    except KeyboardInterrupt:
        print(f"after {args.command}: {interrupted_message(args)}", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise                      # a bug: keep its traceback
        if args.verbose:
            traceback.print_exc()
        print(f"after {args.command}: error: {message}", file=sys.stderr)
        return 2


def interrupted_message(args: argparse.Namespace) -> str:
    """What Ctrl-C leaves behind, per command, in one line."""
    run_dir = getattr(args, "out", None) or getattr(args, "output", None)
    kept = {"train": "finished folds", "al": "finished rounds and every label given"}.get(args.command)
    if kept and run_dir:
        return f"interrupted; {kept} are kept in {run_dir}; run the same command to resume"
    return "interrupted; outputs are written whole or not at all, so nothing half-written was left; " \
           "run the same command again"


def user_message(exc: BaseException) -> str | None:
    """The one-line message for a user error or a common system error, or None for a bug."""
    import yaml

    if isinstance(exc, AfterError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _OS_HINTS:
        where = exc.filename if exc.filename is not None else "an output file"
        return f"{where}: {exc.strerror or exc}; {_OS_HINTS[exc.errno]}"
    if isinstance(exc, yaml.YAMLError):
        return f"malformed YAML ({str(exc).splitlines()[0]}); correct the file and run the same command again"
    if type(exc).__name__ == "SafetensorError":
        return (f"a weights file (.safetensors) is truncated or not a safetensors file ({exc}); copy the model "
                "folder again")
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, (ValueError, FileNotFoundError)):
        return str(exc)
    return None


_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free some space (or write elsewhere) and run the same command again; "
                  "files written before were kept whole",
    errno.EDQUOT: "the disk quota is used up: free some space and run the same command again",
    errno.EROFS: "the location is read-only: choose an output location you can write to",
    errno.EACCES: "permission denied: choose a location you can write to, or fix its permissions",
    errno.EPERM: "permission denied: choose a location you can write to, or fix its permissions",
    errno.EISDIR: "that is a folder where a file was expected: give a file path",
    errno.ENOTDIR: "a part of that path is a file, not a folder: check the path",
    errno.ENOENT: "not found: check the path",
}


if __name__ == "__main__":
    sys.exit(main())
