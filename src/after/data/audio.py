"""The one place that reads audio: soundfile, mix to mono, resample to 16 kHz with soxr, crop or pad.

Every error names the file and says what to do, so a user with a 10,000-clip corpus can find the bad one.
"""
from __future__ import annotations

from after.errors import AfterError

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

log = logging.getLogger(__name__)

TARGET_SAMPLE_RATE_HZ = 16_000


class AudioError(AfterError, ValueError):
    """A clip that cannot be used: missing, undecodable, empty or silent-by-construction."""

    def __init__(self, path: str | Path, problem: str, hint: str = ""):
        self.path = str(path)
        self.problem = problem
        msg = f"{path}: {problem}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


@dataclass(frozen=True)
class AudioInfo:
    """What a header says about a clip, without decoding it."""

    path: str
    sample_rate_hz: int
    channels: int
    n_frames: int

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.sample_rate_hz if self.sample_rate_hz else 0.0


def audio_info(path: str | Path) -> AudioInfo:
    """Read a clip's header; raises AudioError if it is missing or not audio."""
    p = Path(path)
    if not p.is_file():
        raise AudioError(p, "file not found", "check the path, or re-run `after prepare` on the corpus")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # soundfile raises several types for bad headers
        raise AudioError(p, f"cannot be decoded ({exc.__class__.__name__}: {exc})",
                         "replace the file or drop it with --on-error skip") from exc
    return AudioInfo(str(p), int(info.samplerate), int(info.channels), int(info.frames))


def load_audio(
    path: str | Path,
    sample_rate_hz: int = TARGET_SAMPLE_RATE_HZ,
    max_duration_s: float | None = None,
    min_duration_s: float | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
) -> np.ndarray:
    """Decode a clip to float32 mono at ``sample_rate_hz``.

    Returns an array of shape ``[n_samples]``. With ``start_s``/``end_s`` only that span of the file is
    decoded (a seek, then the span's frames: a segment of a one-hour recording costs the segment, not the
    hour); ``end_s`` past the end stops at the end. Clips longer than ``max_duration_s`` are cropped from
    the start; clips shorter than ``min_duration_s`` are zero-padded at the end.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(p, "file not found", "check the path, or re-run `after prepare` on the corpus")
    wav, sr = _read(p, start_s, end_s)
    if wav.shape[0] == 0:
        what = "contains no samples (empty audio)" if start_s is None and end_s is None else \
            f"span {start_s}-{end_s} s holds no samples"
        raise AudioError(p, what, "replace the file or drop it with --on-error skip")
    if not np.isfinite(wav).all():
        raise AudioError(p, "contains NaN or infinite samples", "re-export the file")
    mono = wav.mean(axis=1) if wav.shape[1] > 1 else wav[:, 0]
    if sr != sample_rate_hz:
        mono = soxr.resample(mono, sr, sample_rate_hz, quality="HQ").astype(np.float32, copy=False)
    if max_duration_s is not None:
        mono = mono[: int(round(max_duration_s * sample_rate_hz))]
    if min_duration_s is not None:
        need = int(round(min_duration_s * sample_rate_hz)) - mono.shape[0]
        if need > 0:
            mono = np.pad(mono, (0, need))
    return np.ascontiguousarray(mono, dtype=np.float32)


def _read(p: Path, start_s: float | None, end_s: float | None) -> tuple[np.ndarray, int]:
    """``[frames, channels]`` float32 of the whole file, or of the span ``start_s``..``end_s``."""
    if start_s is not None and (start_s < 0 or (end_s is not None and end_s <= start_s)):
        raise AudioError(p, f"invalid span start_s={start_s}, end_s={end_s}",
                         "start_s must be >= 0 and end_s after it; fix the manifest row")
    try:
        if start_s is None and end_s is None:
            wav, sr = sf.read(str(p), dtype="float32", always_2d=True)
            return wav, int(sr)
        with sf.SoundFile(str(p)) as fh:
            sr = int(fh.samplerate)
            first = int(round((start_s or 0.0) * sr))
            last = fh.frames if end_s is None else min(fh.frames, int(round(end_s * sr)))
            if first >= fh.frames:
                raise AudioError(p, f"span starts at {start_s} s, after the end of the file "
                                    f"({fh.frames / sr:.3f} s)", "fix the manifest row's start_s")
            fh.seek(first)
            return fh.read(max(0, last - first), dtype="float32", always_2d=True), sr
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(p, f"cannot be decoded ({exc.__class__.__name__}: {exc})",
                         "replace the file or drop it with --on-error skip") from exc


def load_clip(utt, sample_rate_hz: int = TARGET_SAMPLE_RATE_HZ, max_duration_s: float | None = None,
              min_duration_s: float | None = None) -> np.ndarray:
    """The audio of a manifest row: the whole file, or its span when the row is a segment of a recording."""
    return load_audio(utt.path, sample_rate_hz, max_duration_s, min_duration_s,
                      start_s=getattr(utt, "start_s", None), end_s=getattr(utt, "end_s", None))


@dataclass(frozen=True)
class AudioSpan:
    """What a reader needs of one clip: the file, and the span of it when the clip is a segment.

    ``duration_s`` is the clip's length when known (a manifest row's, or ``end_s - start_s``); ``None``
    means read it from the header.
    """

    path: str
    start_s: float | None = None
    end_s: float | None = None
    duration_s: float | None = None

    @property
    def is_segment(self) -> bool:
        return self.start_s is not None or self.end_s is not None

    def length_s(self) -> float:
        """The clip's duration: the span's, the row's, or the file header's."""
        if self.start_s is not None and self.end_s is not None:
            return float(self.end_s - self.start_s)
        if self.duration_s is not None:
            return float(self.duration_s)
        return audio_info(self.path).duration_s - float(self.start_s or 0.0)


def as_span(item) -> AudioSpan:
    """A path, a ``(path, start_s, end_s)`` tuple, an :class:`AudioSpan` or a manifest row (``Utterance``)."""
    if isinstance(item, AudioSpan):
        return item
    if isinstance(item, (str, Path)):
        return AudioSpan(str(item))
    if isinstance(item, tuple):
        path, start, end = (tuple(item) + (None, None))[:3]
        return AudioSpan(str(path), None if start is None else float(start), None if end is None else float(end))
    start, end = getattr(item, "start_s", None), getattr(item, "end_s", None)
    duration = getattr(item, "duration_s", None)
    return AudioSpan(str(item.path), start, end, None if start is not None else duration)


def load_span(item, sample_rate_hz: int = TARGET_SAMPLE_RATE_HZ, max_duration_s: float | None = None) -> np.ndarray:
    """The audio of ``item`` (anything :func:`as_span` takes); a span longer than ``max_duration_s`` is read
    only up to it (a crop from the start, as for whole files)."""
    span = as_span(item)
    end = span.end_s
    if span.is_segment and max_duration_s is not None:
        start = span.start_s or 0.0
        end = start + max_duration_s if end is None else min(end, start + max_duration_s)
    return load_audio(span.path, sample_rate_hz, max_duration_s, start_s=span.start_s, end_s=end)


def check_audio(path: str | Path, block_frames: int = 1 << 16) -> AudioInfo:
    """The usability check of ``after prepare``: read the header, then decode every frame (no resampling).

    A file corrupted in the middle passes a header or both-ends check and fails later, in training; the
    whole decode catches it here, naming the file. Decoding is block-wise, so memory stays flat for long
    recordings. Raises AudioError naming the file and the problem.
    """
    info = audio_info(path)
    if info.n_frames <= 0 or info.sample_rate_hz <= 0:
        raise AudioError(path, "contains no samples (empty audio)", "replace the file or drop it with --on-error skip")
    n_read = 0
    try:
        for block in sf.blocks(str(path), blocksize=block_frames, dtype="float32", always_2d=True):
            if not np.isfinite(block).all():
                raise AudioError(path, f"contains NaN or infinite samples near {n_read / info.sample_rate_hz:.2f} s",
                                 "re-export the file")
            n_read += block.shape[0]
    except AudioError:
        raise
    except Exception as exc:  # libsndfile reports truncation and bad frames with several exception types
        raise AudioError(path, f"cannot be decoded after {n_read / info.sample_rate_hz:.2f} s "
                               f"({exc.__class__.__name__}: {exc})",
                         "the file is damaged: replace it or drop it with --on-error skip") from exc
    if n_read < info.n_frames:
        raise AudioError(path, f"header announces {info.n_frames} frames but only {n_read} could be decoded "
                               "(truncated?)", "replace the file or drop it with --on-error skip")
    return info
