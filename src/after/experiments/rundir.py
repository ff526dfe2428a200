"""One run directory helper for every stage (``after train``, ``after al``, and the stages built on them).

A run directory is trusted only if it cannot mix two runs. :class:`RunDirectory`:

- takes an exclusive lock (``RUN/.lock``, ``flock``) for the run's lifetime, so a second process on the
  same directory is refused with the holder's pid instead of interleaving results; the kernel drops the
  lock when the holder dies, even by ``kill -9``, so there is never a stale lock to delete;
- fingerprints what the results depend on: the resolved config and the *content* (sha256) of the input
  files such as the manifest and the folds, not their paths;
- refuses to continue a directory whose saved fingerprint differs, naming the config keys and files that
  changed, once the directory holds results; before that the new fingerprint simply replaces the old one;
- saves the resolved config (``config.yaml``) and the fingerprint (``fingerprint.json``) atomically.

A lock on a network file system (NFS) depends on its locking support; local disks are safe.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from after.atomic import atomic_write_text
from after.errors import RunDirectoryError, StateFileError

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
FINGERPRINT_NAME = "fingerprint.json"
CONFIG_NAME = "config.yaml"


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_bytes), b""):
            h.update(block)
    return h.hexdigest()


# the files of a local model folder whose bytes decide the features (weights, architecture, front end)
_BACKBONE_FILES = ("config.json", "preprocessor_config.json", "*.safetensors", "*.bin")
BACKBONE_PREFIX = "backbone/"


def backbone_inputs(backbone: str | Path) -> dict[str, Path]:
    """``{"backbone/<file>": path}`` for a local model folder's weight and config files; ``{}`` for a name
    (``logmel``, an alias, a hub id), whose content this machine does not hold.

    A run directory fingerprints them like the manifest: weights replaced in place (a TAPT run writing into
    the same folder, a re-download of another revision) would otherwise mix two encoders in one run.
    """
    folder = Path(backbone)
    if not folder.is_dir():
        return {}
    files = sorted({f for pattern in _BACKBONE_FILES for f in folder.glob(pattern) if f.is_file()})
    return {f"{BACKBONE_PREFIX}{f.name}": f for f in files}


def config_changes(old: Any, new: Any, prefix: str = "", defaults: Any = None) -> list[str]:
    """Dotted keys whose values differ between two nested config dicts, as ``key (old -> new)``.

    ``defaults`` (the same nesting): a key missing from ``old`` whose new value is its default is no change;
    it is a field a newer after added, and the run that lacks it ran with that default.
    """
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        defaults = defaults if isinstance(defaults, Mapping) else {}
        for k in sorted(set(old) | set(new), key=str):
            key = f"{prefix}{k}"
            if k not in old:
                if k not in defaults or _plain(defaults[k]) != _plain(new[k]):
                    out.append(f"{key} (added: {new[k]!r})")
            elif k not in new:
                out.append(f"{key} (removed: was {old[k]!r})")
            else:
                out += config_changes(old[k], new[k], key + ".", defaults.get(k))
        return out
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        old, new = list(old), list(new)
    return [] if old == new else [f"{prefix.rstrip('.') or 'config'} ({old!r} -> {new!r})"]


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class RunDirectory:
    """A locked run directory; use as ``with RunDirectory(path) as run: run.bind(config, inputs, ...)``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_fh = None

    # -- lock -----------------------------------------------------------------------------------------------
    def __enter__(self) -> "RunDirectory":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"{self.path} is a file, not a run directory; choose another -o")
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / LOCK_NAME
        fh = open(lock, "a+", encoding="utf-8")
        try:
            _lock_exclusive(fh)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise RunDirectoryError(
                f"{self.path} is in use by {holder}; wait for it to finish (or stop it), or choose another "
                "run directory. Two processes on one directory would mix their results.") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} ({' '.join(sys.argv[:3])})\n")
        fh.flush()
        self._lock_fh = fh

    def release(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()       # closing the descriptor drops the flock
            self._lock_fh = None

    # -- fingerprint ----------------------------------------------------------------------------------------
    def fingerprint(self, config: Mapping[str, Any], inputs: Mapping[str, str | Path],
                    volatile: Sequence[str] = ()) -> dict:
        """The config (less the dotted ``volatile`` keys, such as a cache location) and the inputs' sha256."""
        plain = json.loads(json.dumps(config, default=str))
        for dotted in volatile:
            *parents, last = dotted.split(".")
            node = plain
            for p in parents:
                node = node.get(p, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict):
                node.pop(last, None)
        missing = [f"{name} ({p})" for name, p in sorted(inputs.items()) if not Path(p).is_file()]
        if missing:
            raise RunDirectoryError(f"input file(s) not found: {', '.join(missing)}")
        return {"config": plain, "inputs": {name: file_sha256(p) for name, p in sorted(inputs.items())}}

    def saved_fingerprint(self) -> dict | None:
        path = self.path / FINGERPRINT_NAME
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StateFileError(f"{path} does not parse ({exc}); it records what this run directory's results "
                                 "depend on. Restore it, or start a new run directory") from None
        if not isinstance(saved, dict) or "config" not in saved or "inputs" not in saved:
            raise StateFileError(f"{path} is not a run fingerprint; restore it or start a new run directory")
        return saved

    def bind(self, config: Mapping[str, Any], inputs: Mapping[str, str | Path], *, has_results: bool,
             volatile: Sequence[str] = (), defaults: Mapping[str, Any] | None = None) -> dict:
        """Check ``config`` + the content of ``inputs`` against the saved fingerprint, then save both.

        ``has_results``: whether the directory already holds results of a run (then any difference is an
        error); without results, a new fingerprint replaces the old one. ``volatile``: dotted config keys
        the results do not depend on (a cache folder); they are saved in config.yaml but not compared.
        ``defaults``: the config's defaults as a dict; a key the saved config lacks (a field added by a newer
        after) is no change while it keeps its default, so results of an older version stay resumable.
        """
        self._require_lock()
        new = self.fingerprint(config, inputs, volatile)
        old = self.saved_fingerprint()
        if old is None and has_results:
            log.warning("%s holds results but no %s (written by an older after): its config and inputs cannot be "
                        "checked; they are recorded now", self.path, FINGERPRINT_NAME)
        if old is not None and has_results:
            old = _with_new_backbone_inputs(old, new)
        changes: list[str] = []
        if old is not None and old != new and has_results:
            changes = config_changes(old["config"], new["config"], defaults=defaults)
            for name in sorted(set(old["inputs"]) | set(new["inputs"])):
                if old["inputs"].get(name) != new["inputs"].get(name):
                    where = inputs.get(name, name)
                    changes.append(f"{name} file {where} (its content changed since this run began)"
                                   if name in old["inputs"] and name in new["inputs"] else f"input {name} ({where})")
        if changes:
            raise RunDirectoryError(
                f"{self.path} holds results of another run; changed: {'; '.join(changes)}. Resume it with the "
                f"same config and input files, or choose a new run directory (-o).")
        plain = json.loads(json.dumps(config, default=str))
        atomic_write_text(self.path / CONFIG_NAME, yaml.safe_dump(plain, sort_keys=False))
        atomic_write_text(self.path / FINGERPRINT_NAME, json.dumps(new, indent=1))
        return new

    def _require_lock(self) -> None:
        if self._lock_fh is None:
            raise RuntimeError("RunDirectory.bind called without holding the lock (use it as a context manager)")


def _with_new_backbone_inputs(old: dict, new: dict) -> dict:
    """A fingerprint written before model folders were fingerprinted takes the folder's files as they are now
    (logged): results made by an older after stay resumable; from now on the folder is checked."""
    if any(name.startswith(BACKBONE_PREFIX) for name in old["inputs"]):
        return old
    added = {k: v for k, v in new["inputs"].items() if k.startswith(BACKBONE_PREFIX)}
    if added:
        log.warning("this run directory's fingerprint predates model-folder checks; the backbone's files (%s) are "
                    "recorded now and checked from the next resume on", ", ".join(sorted(added)))
    return {**old, "inputs": {**old["inputs"], **added}}


def _lock_exclusive(fh) -> None:
    """Non-blocking exclusive lock on ``fh``; raises BlockingIOError when another process holds it."""
    if os.name == "nt":   # pragma: no cover - Windows
        import msvcrt
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None
        return
    import fcntl
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
