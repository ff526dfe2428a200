"""Atomic file writes: a reader (or a rerun after ``kill -9``) sees the old file or the new one, never half.

The content goes to a temporary file in the same folder, is flushed and fsynced, then renamed over the
target with :func:`os.replace` (atomic on POSIX and Windows); the folder is fsynced too where the
platform allows, so the rename itself survives a power cut.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO]:
    """``with atomic_open(p) as fh: fh.write(...)``: ``p`` is replaced only if the block finishes."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', not {mode!r}")
    out = Path(path)
    if out.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL with mode 0o666: the umask applies as for any new file (mkstemp would leave it 0600)
    tmp = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding,
                       newline=None if "b" in mode else newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno and (exc.filename is None or str(exc.filename) == str(tmp)):
            # a full disk surfaces in write/fsync without a name, a failed rename names the temp file:
            # name the file the user asked for
            raise OSError(exc.errno, exc.strerror or str(exc), str(out)) from exc
        raise
    _fsync_dir(out.parent)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
