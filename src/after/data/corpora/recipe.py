"""What every corpus recipe shares: candidate rows, the file check, and the fail-or-skip policy.

A recipe only parses names and metadata into :class:`Candidate` rows (a row it cannot parse carries a
``problem``). :func:`finish` then checks every file (it must lie under the corpus root and decode whole),
reads the duration from the header, and either fails once listing every bad file or skips them and
reports them.
"""
from __future__ import annotations

from after.errors import AfterError

import csv
import logging
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal, Mapping

from after.data.audio import AudioError, check_audio
from after.data.labels import EMOTIONS
from after.data.manifest import Manifest, Utterance

log = logging.getLogger(__name__)

OnError = Literal["fail", "skip"]
Progress = Callable[[int, int], None]
"""Called as ``progress(n_checked, n_total)`` while files are checked; the CLI draws a bar with it."""

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")


@dataclass(frozen=True)
class Candidate:
    """A row parsed from a corpus' names and metadata, before its audio is checked."""

    path: Path
    id: str
    corpus: str
    speaker: str = ""
    gender: str = "unknown"
    emotion: str = ""
    original_label: str = ""
    language: str = ""
    session: str = ""
    text: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None


def bad(path: Path, corpus: str, problem: str) -> Candidate:
    """A file the recipe cannot use, e.g. a name that does not follow the corpus' naming scheme."""
    return Candidate(path=path, id=f"{corpus}_{path.stem}", corpus=corpus, problem=problem)


@dataclass(frozen=True)
class BadFile:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass(frozen=True)
class PrepareResult:
    """The validated manifest, the files that were skipped (only with ``on_error="skip"``) and notes
    the user should read (e.g. folds will not be speaker-independent)."""

    manifest: Manifest
    skipped: tuple[BadFile, ...] = ()
    notes: tuple[str, ...] = ()


class PrepareError(AfterError, ValueError):
    """One error for all bad files of a corpus, so the user can fix them in one go."""

    def __init__(self, root: str | Path, bad_files: Iterable[BadFile], n_total: int):
        self.bad_files = tuple(bad_files)
        lines = "\n".join(f"  {b}" for b in self.bad_files)
        super().__init__(
            f"{len(self.bad_files)} of {n_total} file(s) under {root} cannot be used:\n{lines}\n"
            "Fix or remove them, or re-run with --on-error skip to leave them out.")


def check_on_error(on_error: str) -> None:
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")


def audio_files(root: Path, under: str | Path = "") -> list[Path]:
    """Audio files below ``root / under``, sorted, hidden files (``._x.wav`` from macOS) left out.

    Symbolic links to folders are followed (a label folder linked from elsewhere is part of the corpus);
    a link back to a folder already being walked (a loop) is skipped with a warning instead of walking
    forever. Paths are returned as seen under ``root``, so their labels and ids come from the link's name.
    """
    base = root / under
    out = []
    visited: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        here = os.stat(dirpath)
        visited.add((here.st_dev, here.st_ino))
        keep = []
        for d in sorted(d for d in dirnames if not d.startswith(".")):
            try:
                st = os.stat(os.path.join(dirpath, d))
            except OSError:  # a dangling link
                log.warning("skipped %s: broken symbolic link", os.path.join(dirpath, d))
                continue
            if (st.st_dev, st.st_ino) in visited:
                log.warning("skipped %s: symbolic link loop (it leads to a folder already read)",
                            os.path.join(dirpath, d))
                continue
            keep.append(d)
        dirnames[:] = keep
        out.extend(Path(dirpath) / f for f in sorted(filenames)
                   if f.lower().endswith(AUDIO_SUFFIXES) and not f.startswith("."))
    return out


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` lies under ``root`` as written (``..`` resolved, symbolic links not followed)."""
    p = os.path.normpath(os.path.abspath(path))
    r = os.path.normpath(os.path.abspath(root))
    return os.path.commonpath([p, r]) == r


def require_dir(root: str | Path, corpus: str, expect: str) -> Path:
    p = Path(root).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: {corpus} root folder not found (expected {expect})")
    return p


def _check(c: Candidate) -> tuple[Candidate, float | None, str | None]:
    if c.problem:
        return c, None, c.problem
    try:
        info = check_audio(c.path)
    except AudioError as exc:
        return c, None, exc.problem
    return c, info.duration_s, None


def _duplicates(candidates: list[Candidate]) -> dict[int, str]:
    first: dict[str, Path] = {}
    dup = {}
    for i, c in enumerate(candidates):
        if c.problem:
            continue
        if c.id in first:
            dup[i] = f"duplicate id {c.id!r} (also used by {first[c.id]})"
        else:
            first[c.id] = c.path
    return dup


def finish(root: str | Path, candidates: Iterable[Candidate], on_error: OnError = "fail",
           progress: Progress | None = None, notes: Iterable[str] = (), known_emotions: bool = True,
           workers: int | None = None, allow_outside_root: bool = False) -> PrepareResult:
    """Check every candidate's file, then build the manifest or raise one :class:`PrepareError`.

    Every file is decoded whole (:func:`~after.data.audio.check_audio`). A file outside the corpus root
    (``root``'s folder when ``root`` is a table) is a bad file unless ``allow_outside_root``. With
    ``known_emotions`` an emotion outside :data:`~after.data.labels.EMOTIONS` is a bad file (a corpus
    recipe's code tables are closed); the generic ``folder``, ``csv`` and ``audio`` recipes pass False,
    and an empty emotion from them is an unlabelled row.
    """
    check_on_error(on_error)
    cands = list(candidates)
    n = len(cands)
    if n == 0:
        raise ValueError(f"{root}: no audio files found; check the folder and the corpus name")
    problems: dict[int, str] = _duplicates(cands)
    home = Path(root) if Path(root).is_dir() else Path(root).parent
    for i, c in enumerate(cands):
        if not allow_outside_root and not c.problem and i not in problems and not inside(c.path, home):
            problems[i] = (f"outside the corpus root {home}; move it under the root, or pass --allow-outside-root "
                           "if the table should point elsewhere")
    durations: dict[int, float] = {}
    # libsndfile releases the GIL while it decodes: threads pay off.
    with ThreadPoolExecutor(max_workers=workers or min(8, 2 * (os.cpu_count() or 1))) as pool:
        for i, (c, dur, problem) in enumerate(pool.map(_check, cands)):
            if problem and i not in problems:
                problems[i] = problem
            elif dur is not None:
                durations[i] = dur
            if progress is not None:
                progress(i + 1, n)
    for i, c in enumerate(cands):
        if i in problems:
            continue
        if known_emotions and c.emotion not in EMOTIONS:
            problems[i] = f"emotion {c.emotion!r} is not one of {', '.join(EMOTIONS)}"
        elif not c.speaker:
            problems[i] = "no speaker"
    bad_files = [BadFile(str(cands[i].path), problems[i]) for i in sorted(problems)]
    if bad_files and on_error == "fail":
        raise PrepareError(root, bad_files, n)
    for b in bad_files:
        log.warning("skipped %s", b)
    utts = [Utterance(id=c.id, path=str(c.path.resolve()), corpus=c.corpus, speaker=c.speaker, gender=c.gender,
                      emotion=c.emotion, original_label=c.original_label, language=c.language,
                      duration_s=durations[i], session=c.session, text=c.text, extra=dict(c.extra))
            for i, c in enumerate(cands) if i not in problems]
    if not utts:
        raise ValueError(f"{root}: every one of the {n} file(s) was skipped; nothing to write")
    manifest = Manifest(utts)
    counts = Counter(u.emotion for u in manifest if u.emotion)
    n_unlabelled = len(manifest) - sum(counts.values())
    log.info("%s: %d utterances, %d speakers, emotions %s%s%s", root, len(manifest), len(manifest.speakers()),
             dict(sorted(counts.items())), f" ({n_unlabelled} unlabelled)" if n_unlabelled else "",
             f"; skipped {len(bad_files)} bad file(s)" if bad_files else "")
    for note in notes:
        log.warning("%s", note)
    return PrepareResult(manifest, tuple(bad_files), tuple(notes))


def find_dir(root: Path, name: str) -> Path | None:
    """``root/name`` if it exists, ``root`` itself if it is named ``name``; else None."""
    if (root / name).is_dir():
        return root / name
    if root.name == name:
        return root
    return None


def iter_rows(path: Path, delimiter: str = ",") -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, stripped row) pairs of a delimited table with a header line."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for line, row in enumerate(csv.DictReader(fh, delimiter=delimiter), start=2):
            yield line, {(k or "").strip(): (v or "").strip() for k, v in row.items()}


def speaker_matcher(pattern: str) -> Callable[[str], str | None]:
    """A function taking a path relative to the corpus root (``/``-separated) to its speaker, or None.

    The pattern is searched (``re.search``) in the whole relative path; the speaker is its named group
    ``speaker`` if it has one, else group 1, else the whole match. E.g. ``/(?P<speaker>[^/_]+)_[^/]*$``
    takes ``spk01`` from ``angry/spk01_003.wav``.
    """
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"--speaker-regex {pattern!r} is not a valid regular expression ({exc})") from None

    def match(rel: str) -> str | None:
        m = rx.search(rel)
        if not m:
            return None
        if "speaker" in rx.groupindex:
            return m.group("speaker") or None
        return (m.group(1) if rx.groups else m.group(0)) or None

    return match


def slug(name: str) -> str:
    """A corpus name usable as an id prefix: lowercase letters, digits and underscores."""
    out = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return out or "corpus"
