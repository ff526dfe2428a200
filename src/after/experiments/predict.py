"""`after predict`: a model bundle labels audio files, folders, manifests or segments of long recordings.

Read top to bottom: :func:`collect_clips` (inputs -> clips, bad files set aside), :func:`predict_clips`
(length-sorted batches of at most ``batch_seconds`` padded audio, one batch in memory at a time),
:func:`write_predictions_csv` and :func:`score_labelled` (UA / WA / confusion when the input has labels).

Batching never changes a prediction: Whisper has no attention mask (and group-norm wav2vec2 none either), so
a clip padded inside a batch would see its padding. Batches hold clips of one encoder ``batch_key`` (equal
keys pad to the length each clip has alone), and :meth:`~after.training.bundle.Bundle.predict` splits any
batch whose decoded audio disagrees with the planned keys, so each clip gets the output it gets alone.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from after.data.audio import AudioError, audio_info, load_audio, load_span
from after.errors import AfterError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus", ".au")
SEGMENT_MODES = ("none", "vad", "fixed")
Progress = Callable[[float, float], None]     # (seconds done, seconds total)


class PredictInputError(AfterError, ValueError):
    """An input of `after predict` that cannot be used at all (not a file, folder or manifest)."""


@dataclass(frozen=True)
class Clip:
    """One thing to label: a whole file (``start_s`` 0, ``end_s`` its duration) or a span of it."""

    id: str
    path: str
    start_s: float
    end_s: float
    label: str = ""              # the true label, when the input manifest has one
    group: str = ""              # corpus/speaker, when the input manifest has a speaker column (--normalize-by speaker)
    whole: bool = True           # read the whole file (no span)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)


@dataclass
class Predictions:
    """What :func:`predict_clips` returns: clips in input order, their probabilities and what was skipped."""

    classes: list[str]
    clips: list[Clip] = field(default_factory=list)
    proba: np.ndarray | None = None          # [n, C]
    embeddings: np.ndarray | None = None     # [n, H] penultimate layer
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, why)
    cropped: int = 0                         # clips longer than the bundle's max_clip_s


def read_clip(clip: Clip, max_s: float | None = None) -> np.ndarray:
    """The clip's 16 kHz mono samples (a span is decoded without reading the rest of the file)."""
    if clip.whole:
        return load_audio(clip.path, max_duration_s=max_s)
    return load_span((clip.path, clip.start_s, clip.end_s), max_duration_s=max_s)


def _is_manifest(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".tsv")


def _manifest_clips(path: Path) -> list[Clip]:
    """Rows of a manifest (``id,path`` and optionally ``emotion``, ``source_path,start_s,end_s``)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    if rows and "path" not in rows[0] and "source_path" not in rows[0]:
        raise PredictInputError(f"{path}: a manifest needs a 'path' column (columns: {', '.join(rows[0])}); "
                                "make one with `after prepare`")
    clips = []
    for k, r in enumerate(rows):
        span = bool(r.get("source_path")) and r.get("start_s") not in (None, "") and r.get("end_s") not in (None, "")
        p = Path(r["source_path"] if span else r["path"])
        if not p.is_absolute() and not p.exists():
            p = path.parent / p
        start, end = (float(r["start_s"]), float(r["end_s"])) if span else (0.0, float("nan"))
        group = f"{r.get('corpus') or ''}/{r['speaker']}" if r.get("speaker") else ""
        clips.append(Clip(r.get("id") or f"{p.stem}_{k}", str(p), start, end, (r.get("emotion") or "").strip(),
                          group=group, whole=not span))
    return clips


def _segments(path: Path, mode: str) -> list[tuple[float, float]]:
    try:
        from after.data.segments import segment_recording
    except ImportError as exc:
        raise PredictInputError(f"--segment {mode} needs after.data.segments, which this installation lacks "
                                "(update after, or use --segment none)") from exc
    return [(float(s.start_s), float(s.end_s)) for s in segment_recording(path, mode)]


def collect_clips(inputs: Sequence[str | Path], segment: str = "none") -> tuple[list[Clip], list[tuple[str, str]]]:
    """Audio files, folders (every audio file below, sorted) and manifests -> clips; bad files set aside.

    ``segment``: ``vad`` or ``fixed`` cut each audio file (not manifest rows) into segments.
    """
    if segment not in SEGMENT_MODES:
        raise PredictInputError(f"--segment must be one of {', '.join(SEGMENT_MODES)}, got {segment!r}")
    clips: list[Clip] = []
    skipped: list[tuple[str, str]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                log.warning("%s: no audio files (%s) below this folder", item, ", ".join(AUDIO_SUFFIXES))
        elif item.is_file() and _is_manifest(item):
            clips += _manifest_clips(item)
            continue
        elif item.is_file():
            files = [item]
        else:
            raise PredictInputError(f"{item}: no such file or folder (give audio files, folders or a manifest .csv)")
        for f in files:
            try:
                if segment == "none":
                    clips.append(Clip(f.stem, str(f), 0.0, audio_info(f).duration_s))
                else:
                    clips += [Clip(f"{f.stem}_{k:04d}", str(f), s, e, whole=False)
                              for k, (s, e) in enumerate(_segments(f, segment))]
            except AudioError as exc:
                skipped.append((str(f), exc.problem))
    return _unique_ids(clips), skipped


def _unique_ids(clips: list[Clip]) -> list[Clip]:
    seen: dict[str, int] = {}
    out = []
    for c in clips:
        n = seen.get(c.id, 0)
        seen[c.id] = n + 1
        out.append(c if n == 0 else Clip(f"{c.id}#{n + 1}", c.path, c.start_s, c.end_s, c.label, c.whole))
    return out


def bucketed_batches(durations: np.ndarray, batch_seconds: float, bucket_s: float,
                     keys: Sequence[int] | None = None) -> list[np.ndarray]:
    """Length-sorted batches of at most ``batch_seconds`` padded audio, each spanning at most ``bucket_s``
    (and, given ``keys``, each holding one key: sorted by key, then length)."""
    k = np.zeros(len(durations), dtype=np.int64) if keys is None else np.asarray(keys, dtype=np.int64)
    order = np.lexsort((np.arange(len(durations)), durations, k))
    batches, cur = [], []
    for i in order:
        d = durations[i]
        if cur and ((len(cur) + 1) * d > batch_seconds or d - durations[cur[0]] > bucket_s or k[i] != k[cur[0]]):
            batches.append(np.asarray(cur))
            cur = []
        cur.append(int(i))
    if cur:
        batches.append(np.asarray(cur))
    return batches


def _with_durations(clips: list[Clip], skipped: list[tuple[str, str]]) -> list[Clip]:
    """Manifest rows of whole files learn their duration from the header; unreadable ones are set aside."""
    out = []
    for c in clips:
        if c.whole and not np.isfinite(c.end_s):
            try:
                c = dataclasses.replace(c, start_s=0.0, end_s=audio_info(c.path).duration_s)
            except AudioError as exc:
                skipped.append((c.path, exc.problem))
                continue
        out.append(c)
    return out


NORMALIZE_BY = ("bundle", "input", "speaker")


def _check_normalize_by(bundle, clips: list[Clip], normalize_by: str) -> None:
    if normalize_by not in NORMALIZE_BY:
        raise PredictInputError(f"--normalize-by must be one of {', '.join(NORMALIZE_BY)}, got {normalize_by!r}")
    if normalize_by != "bundle" and bundle.kind != "frozen":
        raise PredictInputError(f"--normalize-by {normalize_by}: {bundle.path} is a {bundle.kind} bundle; only "
                                "frozen-encoder bundles standardise pooled features. Leave the flag out")
    missing = [c.path for c in clips if not c.group]
    if normalize_by == "speaker" and missing:
        raise PredictInputError(f"--normalize-by speaker needs a manifest with a speaker column; {len(missing)} "
                                f"clip(s) have none (e.g. {missing[0]}). Use --normalize-by input instead")
    if normalize_by == "bundle" and getattr(bundle, "normalize", "global") != "global":
        log.warning("%s: the head was trained on features standardised per %s; with --normalize-by bundle the "
                    "input is standardised with the training pool's global statistics instead (a mismatch). "
                    "Pass --normalize-by input or speaker to use the input's own statistics",
                    bundle.path, bundle.normalize)


def _adapted_predictions(bundle, clips: list[Clip], pooled: list, normalize_by: str, proba: list, emb: list,
                         keep_embeddings: bool) -> None:
    """Standardise the pooled states with the input's own statistics (all clips: one group; or per
    speaker), then classify. Audio only: the input's labels are never read."""
    from after.training.normalization import standardise
    kept = [i for i, x in enumerate(pooled) if x is not None]
    if not kept:
        return
    x = np.stack([pooled[i] for i in kept])
    groups = ["input"] * len(kept) if normalize_by == "input" else [clips[i].group for i in kept]
    z, _, _ = standardise(x, "speaker", groups=groups)
    p, h = bundle.predict_standardised(z)
    for j, i in enumerate(kept):
        proba[i], emb[i] = p[j], (h[j] if keep_embeddings else None)


def predict_clips(bundle, clips: list[Clip], batch_seconds: float = 60.0, bucket_s: float = 0.25,
                  keep_embeddings: bool = False, progress: Progress | None = None,
                  normalize_by: str = "bundle") -> Predictions:
    """Label ``clips`` with ``bundle`` (see :func:`~after.training.bundle.load_bundle`).

    One batch of audio is decoded at a time (memory does not grow with the input); a clip that cannot be
    decoded is named in ``skipped`` and the rest go on. Clips longer than the bundle's ``max_clip_s`` are
    cropped to it, as in training (use ``--segment`` for long recordings).

    ``normalize_by``: ``bundle`` standardises with the statistics saved in the bundle (the training rows');
    ``input`` with the mean/std of all these clips' pooled features, ``speaker`` with each speaker's (a
    manifest's ``speaker`` column): the unsupervised corpus / speaker adaptation of ``head.normalize``,
    from the input's audio alone. These two keep every clip's pooled features (``[L+1, D]`` floats) in
    memory until all are read.
    """
    _check_normalize_by(bundle, clips, normalize_by)
    from after.backbones.batching import duration_keys
    pooled: list[np.ndarray | None] = [None] * len(clips)
    skipped: list[tuple[str, str]] = []
    clips = _with_durations(clips, skipped)
    max_s = bundle.max_clip_s
    dur = np.minimum(np.asarray([c.duration_s for c in clips], dtype=np.float64), max_s)
    total, done = float(dur.sum()), 0.0
    proba: list[np.ndarray | None] = [None] * len(clips)
    emb: list[np.ndarray | None] = [None] * len(clips)
    for batch in bucketed_batches(dur, batch_seconds, bucket_s, keys=duration_keys(bundle, dur)):
        rows, waves = [], []
        for i in batch:
            try:
                waves.append(read_clip(clips[i], max_s))
                rows.append(int(i))
            except AudioError as exc:
                skipped.append((clips[i].path, exc.problem))
        if waves and normalize_by != "bundle":
            for j, x in enumerate(bundle.pooled(waves)):
                pooled[rows[j]] = x
        elif waves:
            p, h = bundle.predict(waves)
            for j, i in enumerate(rows):
                proba[i], emb[i] = p[j], (h[j] if keep_embeddings else None)
        done += float(dur[batch].sum())
        if progress:
            progress(done, total)
    if normalize_by != "bundle":
        _adapted_predictions(bundle, clips, pooled, normalize_by, proba, emb, keep_embeddings)
    kept = [i for i, p in enumerate(proba) if p is not None]
    n_classes = len(bundle.classes)
    return Predictions(
        classes=list(bundle.classes), clips=[clips[i] for i in kept],
        proba=np.stack([proba[i] for i in kept]) if kept else np.zeros((0, n_classes), np.float32),
        embeddings=np.stack([emb[i] for i in kept]) if keep_embeddings and kept else None,
        skipped=skipped, cropped=int(sum(c.duration_s > max_s for c in clips)))


def write_predictions_csv(preds: Predictions, path: str | Path) -> Path:
    """``id,path,start_s,end_s,label,confidence,p_<class>...``, one row per clip, in input order."""
    from after.atomic import atomic_open
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "w") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "path", "start_s", "end_s", "label", "confidence", *(f"p_{c}" for c in preds.classes)])
        for clip, p in zip(preds.clips, preds.proba):
            k = int(np.argmax(p))
            w.writerow([clip.id, clip.path, f"{clip.start_s:.3f}", f"{clip.end_s:.3f}", preds.classes[k],
                        f"{p[k]:.5f}", *(f"{x:.5f}" for x in p)])
    return out


def score_labelled(preds: Predictions) -> dict | None:
    """UA, WA and the confusion matrix over clips whose true label is one of the bundle's classes."""
    from after.evaluation.metrics import confusion_matrix, unweighted_accuracy, weighted_accuracy
    labelled = [(i, c.label) for i, c in enumerate(preds.clips) if c.label]
    if not labelled:
        return None
    known = [(i, lab) for i, lab in labelled if lab in preds.classes]
    unknown = sorted({lab for _, lab in labelled if lab not in preds.classes})
    if not known:
        return {"n": 0, "unknown_labels": unknown, "n_unknown": len(labelled)}
    y = np.asarray([preds.classes.index(lab) for _, lab in known])
    pred = preds.proba[[i for i, _ in known]].argmax(1)
    return {"n": len(known), "ua": unweighted_accuracy(y, pred), "wa": weighted_accuracy(y, pred),
            "confusion": confusion_matrix(y, pred, len(preds.classes)), "unknown_labels": unknown,
            "n_unknown": len(labelled) - len(known)}
