"""Cutting long recordings into utterance-sized segments: a pretrained voice-activity detector, or fixed windows.

:func:`segment_recording` is the one entry point (``after prepare audio --segment`` and ``after predict
--segment`` both call it). It returns spans in seconds of the source file; nothing is copied, and a
segment is read back with ``load_audio(path, start_s=..., end_s=...)``.

The detector is Silero VAD (the ``silero-vad`` package, whose wheel ships the TorchScript model; nothing is
downloaded at run time). The recording is streamed through it in blocks, resampled to 16 kHz on the fly,
so memory stays flat for hour-long files; the speech probabilities are turned into spans by the package's
own ``get_speech_timestamps_from_probs``. The model is loaded once per process and keeps a recurrent
state: call :func:`segment_recording` from one thread at a time.
"""
from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from after.data.audio import AudioError, audio_info

log = logging.getLogger(__name__)

SegmentMode = Literal["vad", "fixed", "none"]
SEGMENT_MODES = ("vad", "fixed", "none")
VAD_SAMPLE_RATE_HZ = 16_000
_VAD_WINDOW = 512           # samples per Silero VAD decision at 16 kHz (32 ms)
_BLOCK_S = 30               # seconds of audio decoded at a time
_MAX_TAIL_TRIM_S = 0.4      # the detector's hangover is about 0.25 s; never trim more than this


@dataclass(frozen=True)
class Segment:
    """A span of a recording, in seconds from its start."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SegmentOptions:
    """How recordings are cut.

    ``vad``: speech regions of at least ``min_segment_s``, split at a pause when longer than
    ``max_segment_s``, separated by at least ``min_silence_s`` of non-speech; ``threshold`` is the speech
    probability above which a 32 ms window counts as speech (and below which it counts as silence). The
    detector's probability decays for about 0.25 s after speech stops, so each segment's end is then pulled
    back over trailing 10 ms frames more than ``tail_trim_db`` below the segment's peak (at most
    ``_MAX_TAIL_TRIM_S``; 0 turns this off): near-silence is cut, a noisy tail is left as it is. ``fixed``: windows of ``window_s`` every
    ``hop_s`` (default: ``window_s``, no overlap); a last window shorter than ``min_segment_s`` is dropped.
    """

    min_segment_s: float = 0.5
    max_segment_s: float = 15.0
    min_silence_s: float = 0.3
    threshold: float = 0.5
    speech_pad_s: float = 0.0
    tail_trim_db: float = 30.0
    window_s: float = 5.0
    hop_s: float | None = None

    def __post_init__(self) -> None:
        hop = self.window_s if self.hop_s is None else self.hop_s
        checks = [(self.min_segment_s >= 0, "--min-segment-s must be >= 0"),
                  (self.max_segment_s > self.min_segment_s, "--max-segment-s must be larger than --min-segment-s"),
                  (self.min_silence_s >= 0, "min_silence_s must be >= 0"),
                  (0 < self.threshold < 1, "the VAD threshold must be in (0, 1)"),
                  (self.window_s > 0, "--window-s must be > 0"),
                  (0 < hop, "--hop-s must be > 0")]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"{msg} (got {self})")


def segment_recording(path: str | Path, mode: SegmentMode = "vad",
                      options: SegmentOptions | None = None) -> list[Segment]:
    """Spans of ``path`` to treat as utterances, in time order.

    ``mode`` is ``vad`` (speech found by Silero VAD), ``fixed`` (regular windows) or ``none`` (the whole
    file as one segment). Raises AudioError naming the file when it cannot be decoded.
    """
    opts = options or SegmentOptions()
    if mode not in SEGMENT_MODES:
        raise ValueError(f"--segment must be one of {', '.join(SEGMENT_MODES)}, got {mode!r}")
    info = audio_info(path)
    if info.n_frames <= 0:
        raise AudioError(path, "contains no samples (empty audio)", "replace the file or leave it out")
    if mode == "none":
        return [Segment(0.0, info.duration_s)]
    if mode == "fixed":
        return fixed_windows(info.duration_s, opts)
    return vad_segments(path, opts)


def fixed_windows(duration_s: float, opts: SegmentOptions) -> list[Segment]:
    """Windows of ``opts.window_s`` every ``opts.hop_s``; the last one stops at the end of the recording."""
    hop = opts.window_s if opts.hop_s is None else opts.hop_s
    out = []
    k = 0
    while True:
        start = round(k * hop, 6)
        if start >= duration_s:
            break
        end = min(start + opts.window_s, duration_s)
        if end - start >= opts.min_segment_s or (k == 0 and end - start > 0):
            out.append(Segment(start, end))
        if end >= duration_s:
            break
        k += 1
    return out


def vad_segments(path: str | Path, opts: SegmentOptions) -> list[Segment]:
    """Speech spans of ``path`` found by Silero VAD (see :class:`SegmentOptions`)."""
    from silero_vad import get_speech_timestamps_from_probs

    probs, n_samples = speech_probabilities(path)
    spans = get_speech_timestamps_from_probs(
        probs, sampling_rate=VAD_SAMPLE_RATE_HZ, threshold=opts.threshold, neg_threshold=opts.threshold,
        min_speech_duration_ms=int(round(1000 * opts.min_segment_s)), max_speech_duration_s=opts.max_segment_s,
        min_silence_duration_ms=int(round(1000 * opts.min_silence_s)),
        speech_pad_ms=int(round(1000 * opts.speech_pad_s)), audio_length_samples=n_samples)
    segs = [Segment(round(s["start"] / VAD_SAMPLE_RATE_HZ, 3), round(s["end"] / VAD_SAMPLE_RATE_HZ, 3))
            for s in spans]
    if opts.tail_trim_db > 0:
        segs = [_trim_tail(path, s, opts.tail_trim_db) for s in segs]
    segs = [s for s in segs if s.duration_s >= opts.min_segment_s]
    log.debug("%s: %d speech segment(s)", path, len(segs))
    return segs


def _trim_tail(path: str | Path, seg: Segment, below_db: float) -> Segment:
    """``seg`` with its end moved back over trailing 10 ms frames quieter than its peak by ``below_db``."""
    from after.data.audio import load_audio

    x = load_audio(path, start_s=seg.start_s, end_s=seg.end_s)
    frame = VAD_SAMPLE_RATE_HZ // 100
    n = x.shape[0] // frame
    if n < 2:
        return seg
    level = 10 * np.log10(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() - below_db)
    new_end = seg.start_s + (loud[-1] + 1) * frame / VAD_SAMPLE_RATE_HZ
    new_end = max(new_end, seg.end_s - _MAX_TAIL_TRIM_S)
    return Segment(seg.start_s, round(min(seg.end_s, new_end), 3))


def speech_probabilities(path: str | Path) -> tuple[list[float], int]:
    """Silero VAD's speech probability per 32 ms window of ``path`` (mono, at 16 kHz), and the number of
    16 kHz samples; the file is decoded in blocks of 30 s, so memory does not grow with its length."""
    import torch

    model = _vad_model()
    probs: list[float] = []
    n_samples = 0
    try:
        with sf.SoundFile(str(path)) as fh, torch.inference_mode():
            sr = int(fh.samplerate)
            stream = soxr.ResampleStream(sr, VAD_SAMPLE_RATE_HZ, 1, dtype="float32") if sr != VAD_SAMPLE_RATE_HZ \
                else None
            model.reset_states()
            pending = np.zeros(0, dtype=np.float32)
            for block in fh.blocks(blocksize=_BLOCK_S * sr, dtype="float32", always_2d=True):
                mono = block.mean(axis=1).astype(np.float32)
                x = stream.resample_chunk(mono, last=False) if stream else mono
                pending = np.concatenate([pending, x])
                pending = _feed(model, pending, probs)
                n_samples += x.shape[0]
            if stream:
                tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
                n_samples += tail.shape[0]
                pending = _feed(model, np.concatenate([pending, tail]), probs)
            if pending.shape[0]:
                _feed(model, np.pad(pending, (0, _VAD_WINDOW - pending.shape[0])), probs)
    except AudioError:
        raise
    except Exception as exc:  # libsndfile reports damaged files with several exception types
        raise AudioError(path, f"cannot be decoded ({exc.__class__.__name__}: {exc})",
                         "replace the file or leave it out") from exc
    return probs, n_samples


def _feed(model, samples: np.ndarray, probs: list[float]) -> np.ndarray:
    """Run every whole 512-sample window of ``samples`` through ``model``; returns the remainder."""
    import torch

    n = samples.shape[0] // _VAD_WINDOW * _VAD_WINDOW
    for k in range(0, n, _VAD_WINDOW):
        probs.append(float(model(torch.from_numpy(samples[k:k + _VAD_WINDOW].copy()), VAD_SAMPLE_RATE_HZ)))
    return samples[n:]


@functools.lru_cache(maxsize=1)
def _vad_model():
    """The Silero VAD TorchScript model bundled in the ``silero-vad`` wheel (loaded once per process)."""
    import torch

    threads = torch.get_num_threads()
    try:
        from silero_vad import load_silero_vad
    except ImportError:
        raise ValueError("--segment vad needs the silero-vad package: pip install silero-vad "
                         "(or use --segment fixed)") from None
    finally:
        torch.set_num_threads(threads)  # silero_vad sets one thread for the whole process on import
    with warnings.catch_warnings():  # the package's own importlib/jit deprecation notices
        warnings.simplefilter("ignore", DeprecationWarning)
        model = load_silero_vad(onnx=False)
    torch.set_num_threads(threads)
    return model
