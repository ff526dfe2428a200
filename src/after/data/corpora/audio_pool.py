"""Unlabelled audio: every file under a folder that soundfile reads, any rate or channel count.

``after prepare audio ROOT -o pool.csv`` writes rows with an empty ``emotion``. Without ``speaker_regex``
the speaker is the recording (a note says so). With ``segment`` ``vad`` or ``fixed`` each recording is cut
by :func:`after.data.segments.segment_recording` and every segment is a row ``<recording id>_<start ms>``
with ``source_path,start_s,end_s``; the audio stays where it is.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from after.data.corpora.recipe import (Candidate, OnError, PrepareResult, Progress, audio_files, bad, finish,
                                       require_dir, slug, speaker_matcher)
from after.data.manifest import Manifest, Utterance
from after.data.segments import SEGMENT_MODES, SegmentMode, SegmentOptions, segment_recording

log = logging.getLogger(__name__)

RECORDING_SPEAKER_NOTE = ("{corpus}: no --speaker-regex: every recording is treated as its own speaker, so "
                          "segments of one recording stay together but two recordings of one person may "
                          "land in training and test")


def prepare_audio(root: str | Path, on_error: OnError = "fail", progress: Progress | None = None,
                  speaker_regex: str | None = None, corpus_name: str | None = None, language: str = "",
                  segment: SegmentMode = "none", window_s: float | None = None, hop_s: float | None = None,
                  min_segment_s: float | None = None, max_segment_s: float | None = None,
                  vad_threshold: float | None = None) -> PrepareResult:
    """Unlabelled rows for every audio file under ``root`` (segments of it with ``segment`` vad/fixed)."""
    if segment not in SEGMENT_MODES:
        raise ValueError(f"--segment must be one of {', '.join(SEGMENT_MODES)}, got {segment!r}")
    given = {k: v for k, v in (("window_s", window_s), ("hop_s", hop_s), ("min_segment_s", min_segment_s),
                               ("max_segment_s", max_segment_s), ("threshold", vad_threshold)) if v is not None}
    options = SegmentOptions(**given)
    root = require_dir(root, "audio", "a folder of recordings")
    corpus = slug(corpus_name or root.resolve().name)
    speaker_of = speaker_matcher(speaker_regex) if speaker_regex else None
    cands = []
    for path in audio_files(root):
        rel = path.relative_to(root)
        uid = f"{corpus}_{'-'.join(rel.with_suffix('').parts)}"
        speaker = speaker_of(rel.as_posix()) if speaker_of else uid
        if speaker is None:
            cands.append(bad(path, corpus, f"--speaker-regex {speaker_regex!r} does not match {rel.as_posix()}"))
            continue
        cands.append(Candidate(path=path, id=uid, corpus=corpus,
                               speaker=f"{corpus}_{speaker}" if speaker_of else uid, language=language))
    notes = () if speaker_of else (RECORDING_SPEAKER_NOTE.format(corpus=corpus),)
    result = finish(root, cands, on_error, progress, notes, known_emotions=False)
    if segment == "none":
        return result
    rows, empty = _segment_rows(result.manifest, segment, options, progress)
    if not rows:
        raise ValueError(f"{root}: --segment {segment} found no segment in any recording; try --segment none")
    log.info("%s: %d recording(s) cut into %d segment(s) (%s)", root, len(result.manifest), len(rows), segment)
    notes = result.notes
    if empty:
        notes += (f"{len(empty)} recording(s) gave no {segment} segment and are left out, e.g. {empty[0]}"
                  + (" (lower --vad-threshold, or use --segment fixed or none for them)" if segment == "vad" else
                     " (shorter than --min-segment-s)"),)
    return replace(result, manifest=Manifest(rows), notes=notes)


def _segment_rows(recordings: Manifest, segment: SegmentMode, options: SegmentOptions,
                  progress: Progress | None) -> tuple[list[Utterance], list[str]]:
    """One row per segment of every recording (id ``<recording id>_<start ms>``), and the recordings
    that gave none."""
    rows: list[Utterance] = []
    empty = []
    for k, rec in enumerate(recordings):
        segs = segment_recording(rec.path, segment, options)
        if not segs:
            log.debug("%s: no %s segment found; the recording is left out", rec.path, segment)
            empty.append(rec.path)
        rows.extend(replace(rec, id=f"{rec.id}_{round(s.start_s * 1000)}", duration_s=round(s.duration_s, 3),
                            start_s=s.start_s, end_s=s.end_s) for s in segs)
        if progress is not None:
            progress(k + 1, len(recordings))
    return rows, empty
