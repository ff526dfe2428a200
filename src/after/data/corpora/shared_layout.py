"""The converted layout of the project's shared corpora: ``<root>/audio/...`` plus ``metadata.csv``.

Columns ``file,corpus,speaker,gender,emotion,original_label,language,text,duration_s`` and corpus-specific
extras (kept as manifest extras). Every corpus recipe falls back to this reader when ``metadata.csv`` is
present, so ``after prepare ravdess ../shared/data/ravdess`` works as well as on the original release.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from after.data.corpora.recipe import Candidate, OnError, PrepareResult, Progress, bad, finish, iter_rows

log = logging.getLogger(__name__)

METADATA = "metadata.csv"
_BASE = ("file", "corpus", "speaker", "gender", "emotion", "original_label", "language", "text", "duration_s")
# A header duration this far from metadata.csv means the file was replaced or re-cut.
_DURATION_TOLERANCE_S = 0.05


def has_shared_layout(root: str | Path) -> bool:
    return (Path(root) / METADATA).is_file()


def prepare_shared_layout(root: str | Path, corpus_ids: Iterable[str], on_error: OnError = "fail",
                          progress: Progress | None = None) -> PrepareResult:
    """Read ``root/metadata.csv``; ids are ``<corpus>_<file stem>``, speakers are taken as written.

    ``corpus_ids`` are the values of the ``corpus`` column this recipe accepts (e.g. ``emodb`` and
    ``emodb_crop2s``); another corpus' folder is refused rather than mislabelled.
    """
    root = Path(root)
    table = root / METADATA
    accepted = set(corpus_ids)
    cands: list[Candidate] = []
    expected_s: dict[str, float] = {}
    for line, row in iter_rows(table):
        missing = [c for c in _BASE if c not in row]
        if missing:
            raise ValueError(f"{table}: missing column(s) {', '.join(missing)}; expected {', '.join(_BASE)}")
        corpus = row["corpus"]
        if corpus not in accepted:
            raise ValueError(f"{table}, line {line}: corpus {corpus!r} is not {' or '.join(sorted(accepted))}; "
                             f"prepare this folder with the recipe for {corpus!r}")
        path = root / row["file"]
        if not row["file"]:
            cands.append(bad(table, corpus, f"line {line}: empty file column"))
            continue
        c = Candidate(path=path, id=f"{corpus}_{Path(row['file']).stem}", corpus=corpus, speaker=row["speaker"],
                      gender=row["gender"] or "unknown", emotion=row["emotion"],
                      original_label=row["original_label"], language=row["language"], text=row["text"],
                      session=row.get("session", ""),
                      extra={k: v for k, v in row.items() if k not in _BASE and k != "session"})
        if c.gender not in ("f", "m", "unknown"):
            c = bad(path, corpus, f"{METADATA} line {line}: gender {c.gender!r} is not f, m or unknown")
        cands.append(c)
        try:
            expected_s[c.id] = float(row["duration_s"])
        except ValueError:
            pass
    result = finish(root, cands, on_error, progress)
    off = [u for u in result.manifest if abs(u.duration_s - expected_s.get(u.id, u.duration_s)) > _DURATION_TOLERANCE_S]
    if off:
        log.warning("%d file(s) differ from the duration in %s by more than %.2f s, e.g. %s (header %.3f s); "
                    "the header duration is used", len(off), table, _DURATION_TOLERANCE_S, off[0].path,
                    off[0].duration_s)
    return result
