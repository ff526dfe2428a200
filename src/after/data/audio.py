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
) -> np.ndarray:
    """Decode a clip to float32 mono at ``sample_rate_hz``.

    Returns an array of shape ``[n_samples]``. Clips longer than ``max_duration_s`` are cropped from the
    start; clips shorter than ``min_duration_s`` are zero-padded at the end.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(p, "file not found", "check the path, or re-run `after prepare` on the corpus")
    try:
        wav, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(p, f"cannot be decoded ({exc.__class__.__name__}: {exc})",
                         "replace the file or drop it with --on-error skip") from exc
    if wav.shape[0] == 0:
        raise AudioError(p, "contains no samples (empty audio)", "replace the file or drop it with --on-error skip")
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


def check_audio(path: str | Path, probe_frames: int = 4096) -> AudioInfo:
    """Cheap usability check for ``after prepare``: read the header, then decode the first and last
    ``probe_frames`` frames.

    Decoding both ends catches truncated and corrupt files without decoding whole clips, so a corpus of
    thousands of files is checked in seconds. Raises AudioError naming the file and the problem.
    """
    info = audio_info(path)
    if info.n_frames <= 0 or info.sample_rate_hz <= 0:
        raise AudioError(path, "contains no samples (empty audio)", "replace the file or drop it with --on-error skip")
    try:
        with sf.SoundFile(str(path)) as fh:
            head = fh.read(min(probe_frames, info.n_frames), dtype="float32", always_2d=True)
            tail = head
            if info.n_frames > probe_frames:
                fh.seek(info.n_frames - probe_frames)
                tail = fh.read(probe_frames, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile reports truncation and bad frames with several exception types
        raise AudioError(path, f"cannot be decoded ({exc.__class__.__name__}: {exc})",
                         "replace the file or drop it with --on-error skip") from exc
    if head.shape[0] == 0 or tail.shape[0] == 0:
        raise AudioError(path, f"header announces {info.n_frames} frames but none could be decoded (truncated?)",
                         "replace the file or drop it with --on-error skip")
    if not (np.isfinite(head).all() and np.isfinite(tail).all()):
        raise AudioError(path, "contains NaN or infinite samples", "re-export the file")
    return info
