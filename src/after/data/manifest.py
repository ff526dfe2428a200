"""The manifest: one validated, immutable record per utterance, stored as CSV.

Columns: ``id,path,corpus,speaker,gender,emotion,original_label,language,duration_s,session,text``; then,
when some row is a segment of a longer recording, ``source_path,start_s,end_s``; then any extra columns a
recipe keeps (for IEMOCAP, ``evaluator_labels``: a JSON list of each evaluator's label). Paths are stored
relative to the manifest file when they lie under its folder, absolute otherwise.

An empty ``emotion`` means the row is unlabelled (``after prepare audio`` writes such rows). Code that
needs labels calls :func:`require_labelled`, which refuses unlabelled rows naming them.

A segment row's ``path`` and ``source_path`` are the recording; ``start_s``/``end_s`` the span in seconds,
and ``duration_s`` its length. The audio reader reads only that span (:func:`after.data.audio.load_clip`).
"""
from __future__ import annotations

from after.atomic import atomic_open
from after.errors import AfterError

import csv
import logging
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id", "path", "corpus", "speaker", "gender", "emotion", "original_label", "language",
                    "duration_s")
OPTIONAL_COLUMNS = ("session", "text")
SEGMENT_COLUMNS = ("source_path", "start_s", "end_s")
GENDERS = ("f", "m", "unknown")


class ManifestError(AfterError, ValueError):
    """A manifest (or a row of one) that breaks the contract; the message names the file and row."""


@dataclass(frozen=True)
class Utterance:
    """One clip. ``path`` is absolute once read through :func:`read_manifest`."""

    id: str
    path: str
    corpus: str
    speaker: str
    gender: str
    emotion: str
    original_label: str
    language: str
    duration_s: float
    session: str = ""
    text: str = ""
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    start_s: float | None = None    # a segment of the recording ``path``: its span in seconds
    end_s: float | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ManifestError(f"utterance with path {self.path!r} has an empty id")
        if (self.start_s is None) != (self.end_s is None):
            raise ManifestError(f"utterance {self.id!r}: a segment needs both start_s and end_s")
        if self.start_s is not None and not (0 <= self.start_s < self.end_s):
            raise ManifestError(f"utterance {self.id!r}: segment span {self.start_s}-{self.end_s} s must have "
                                "0 <= start_s < end_s")
        if not self.speaker:
            raise ManifestError(f"utterance {self.id!r} has an empty speaker")
        if self.gender not in GENDERS:
            raise ManifestError(f"utterance {self.id!r}: gender must be one of {GENDERS}, got {self.gender!r}")
        if not (self.duration_s > 0):
            raise ManifestError(f"utterance {self.id!r} ({self.path}): duration_s must be > 0, got {self.duration_s}")

    @property
    def is_labelled(self) -> bool:
        return bool(self.emotion)

    @property
    def is_segment(self) -> bool:
        return self.start_s is not None


class Manifest(Sequence[Utterance]):
    """An ordered, id-unique collection of utterances."""

    def __init__(self, utterances: Iterable[Utterance], source: str | Path | None = None):
        self._utts: tuple[Utterance, ...] = tuple(utterances)
        self.source = str(source) if source is not None else None
        dup = [i for i, c in Counter(u.id for u in self._utts).items() if c > 1]
        if dup:
            where = f" in {self.source}" if self.source else ""
            raise ManifestError(f"duplicate utterance ids{where}: {', '.join(sorted(dup)[:10])}"
                                f"{' ...' if len(dup) > 10 else ''} (ids must be unique; prefix them by corpus)")
        self._index = {u.id: i for i, u in enumerate(self._utts)}

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return Manifest(self._utts[i], self.source)
        return self._utts[i]

    def __len__(self) -> int:
        return len(self._utts)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self._utts)

    @property
    def ids(self) -> list[str]:
        return [u.id for u in self._utts]

    def by_id(self, utt_id: str) -> Utterance:
        try:
            return self._utts[self._index[utt_id]]
        except KeyError:
            raise KeyError(f"utterance id {utt_id!r} is not in the manifest {self.source or ''}") from None

    def index_of(self, ids: Iterable[str]) -> list[int]:
        """Row positions of ``ids``; raises KeyError naming the first unknown id."""
        out = []
        for i in ids:
            if i not in self._index:
                raise KeyError(f"utterance id {i!r} is not in the manifest {self.source or ''}")
            out.append(self._index[i])
        return out

    def subset(self, ids: Iterable[str]) -> "Manifest":
        return Manifest((self.by_id(i) for i in ids), self.source)

    def filter(self, keep) -> "Manifest":
        return Manifest((u for u in self._utts if keep(u)), self.source)

    def labels(self) -> list[str]:
        """Sorted distinct emotion labels of the labelled rows: the class order used everywhere downstream."""
        return sorted({u.emotion for u in self._utts if u.emotion})

    def labelled(self) -> "Manifest":
        """The rows that carry an emotion."""
        return self.filter(lambda u: u.is_labelled)

    def unlabelled(self) -> "Manifest":
        """The rows whose emotion is empty (e.g. from ``after prepare audio``)."""
        return self.filter(lambda u: not u.is_labelled)

    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self._utts})

    def replace_all(self, **changes) -> "Manifest":
        return Manifest((replace(u, **changes) for u in self._utts), self.source)


def require_labelled(manifest: Manifest, what: str) -> Manifest:
    """``manifest`` itself when every row has an emotion; else a ManifestError naming the unlabelled rows.

    ``what`` names the operation that needs labels (e.g. ``"--balance"``), so the message says what refused.
    """
    missing = manifest.unlabelled()
    if len(missing):
        where = f" of {manifest.source}" if manifest.source else ""
        shown = ", ".join(missing.ids[:5]) + (" ..." if len(missing) > 5 else "")
        raise ManifestError(f"{what} needs labels, but {len(missing)} of {len(manifest)} row(s){where} have an "
                            f"empty emotion ({shown}); label them, or keep only the labelled rows")
    return manifest


def _extra_columns(utts: Sequence[Utterance]) -> list[str]:
    cols: dict[str, None] = {}
    for u in utts:
        for k in u.extra:
            cols.setdefault(k, None)
    return list(cols)


def write_manifest(manifest: Iterable[Utterance], path: str | Path) -> Path:
    """Write atomically (temp file + rename), so a killed run never leaves half a manifest."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    utts = list(manifest)
    extra = [c for c in _extra_columns(utts) if c not in SEGMENT_COLUMNS]
    segments = any(u.is_segment for u in utts)
    base = out.parent.resolve()
    with atomic_open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *(SEGMENT_COLUMNS if segments else ()), *extra])
        for u in utts:
            stored = _stored_path(u.path, base)
            span = ([stored, f"{u.start_s:.3f}", f"{u.end_s:.3f}"] if u.is_segment else ["", "", ""]) \
                if segments else []
            w.writerow([u.id, stored, u.corpus, u.speaker, u.gender, u.emotion, u.original_label, u.language,
                        f"{u.duration_s:.4f}", u.session, u.text, *span, *(u.extra.get(k, "") for k in extra)])
    return out


def _stored_path(path: str, base: Path) -> str:
    p = Path(path).resolve()
    try:
        return os.path.relpath(p, base) if p.is_relative_to(base) else str(p)
    except ValueError:  # different drive on Windows
        return str(p)


def _span(row: dict[str, str]) -> tuple[float | None, float | None]:
    start, end = (row.get(c) or "" for c in ("start_s", "end_s"))
    if not start and not end:
        return None, None
    try:
        return float(start), float(end)
    except ValueError:
        raise ManifestError(f"start_s {start!r} / end_s {end!r} must both be numbers (seconds)") from None


def read_manifest(path: str | Path, check_files: bool = False) -> Manifest:
    """Read and validate a manifest CSV; paths come back absolute.

    With ``check_files`` every referenced file must exist (decoding is checked by ``after prepare``).
    """
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"{p}: manifest not found (create one with `after prepare CORPUS ROOT -o {p}`)")
    base = p.parent.resolve()
    utts = []
    with open(p, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{p}: missing column(s) {', '.join(missing)}; "
                                f"a manifest needs {', '.join(REQUIRED_COLUMNS)}")
        known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS) | set(SEGMENT_COLUMNS)
        extra_cols = [c for c in reader.fieldnames if c not in known]
        for row_no, row in enumerate(reader, start=2):
            try:
                dur = float(row["duration_s"])
            except ValueError:
                raise ManifestError(f"{p}, line {row_no}: duration_s {row['duration_s']!r} is not a number") from None
            audio = Path(row.get("source_path") or row["path"])
            audio = audio if audio.is_absolute() else base / audio
            if check_files and not audio.is_file():
                raise ManifestError(f"{p}, line {row_no}: audio file {audio} not found "
                                    f"(move the manifest back beside its audio, or re-run `after prepare`)")
            try:
                start_s, end_s = _span(row)
                utts.append(Utterance(
                    id=row["id"], path=str(audio), corpus=row["corpus"], speaker=row["speaker"],
                    gender=row["gender"] or "unknown", emotion=row["emotion"], original_label=row["original_label"],
                    language=row["language"], duration_s=dur, session=row.get("session") or "",
                    text=row.get("text") or "", extra={c: row[c] or "" for c in extra_cols},
                    start_s=start_s, end_s=end_s,
                ))
            except ManifestError as exc:
                raise ManifestError(f"{p}, line {row_no}: {exc}") from None
    return Manifest(utts, source=p)
