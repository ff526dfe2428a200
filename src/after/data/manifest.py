"""The manifest: one validated, immutable record per utterance, stored as CSV.

Columns: ``id,path,corpus,speaker,gender,emotion,original_label,language,duration_s,session,text`` plus
any extra columns a recipe keeps (for IEMOCAP, ``evaluator_labels``: a JSON list of each evaluator's
label). Paths are stored relative to the manifest file when they lie under its folder, absolute otherwise.
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

    def __post_init__(self) -> None:
        if not self.id:
            raise ManifestError(f"utterance with path {self.path!r} has an empty id")
        if not self.emotion:
            raise ManifestError(f"utterance {self.id!r} has an empty emotion label")
        if not self.speaker:
            raise ManifestError(f"utterance {self.id!r} has an empty speaker")
        if self.gender not in GENDERS:
            raise ManifestError(f"utterance {self.id!r}: gender must be one of {GENDERS}, got {self.gender!r}")
        if not (self.duration_s > 0):
            raise ManifestError(f"utterance {self.id!r} ({self.path}): duration_s must be > 0, got {self.duration_s}")


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
        """Sorted distinct emotion labels: the class order used everywhere downstream."""
        return sorted({u.emotion for u in self._utts})

    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self._utts})

    def replace_all(self, **changes) -> "Manifest":
        return Manifest((replace(u, **changes) for u in self._utts), self.source)


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
    extra = _extra_columns(utts)
    base = out.parent.resolve()
    with atomic_open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *extra])
        for u in utts:
            p = Path(u.path).resolve()
            try:
                stored = os.path.relpath(p, base) if p.is_relative_to(base) else str(p)
            except ValueError:  # different drive on Windows
                stored = str(p)
            w.writerow([u.id, stored, u.corpus, u.speaker, u.gender, u.emotion, u.original_label, u.language,
                        f"{u.duration_s:.4f}", u.session, u.text, *(u.extra.get(k, "") for k in extra)])
    return out


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
        known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
        extra_cols = [c for c in reader.fieldnames if c not in known]
        for row_no, row in enumerate(reader, start=2):
            try:
                dur = float(row["duration_s"])
            except ValueError:
                raise ManifestError(f"{p}, line {row_no}: duration_s {row['duration_s']!r} is not a number") from None
            audio = Path(row["path"])
            audio = audio if audio.is_absolute() else base / audio
            if check_files and not audio.is_file():
                raise ManifestError(f"{p}, line {row_no}: audio file {audio} not found "
                                    f"(move the manifest back beside its audio, or re-run `after prepare`)")
            try:
                utts.append(Utterance(
                    id=row["id"], path=str(audio), corpus=row["corpus"], speaker=row["speaker"],
                    gender=row["gender"] or "unknown", emotion=row["emotion"], original_label=row["original_label"],
                    language=row["language"], duration_s=dur, session=row.get("session") or "",
                    text=row.get("text") or "", extra={c: row[c] or "" for c in extra_cols},
                ))
            except ManifestError as exc:
                raise ManifestError(f"{p}, line {row_no}: {exc}") from None
    return Manifest(utts, source=p)
