"""Segmentation of long recordings (Silero VAD, fixed windows) and `after prepare audio`."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from after.cli import main
from after.data import segments
from after.data.audio import load_audio, load_clip
from after.data.manifest import read_manifest
from after.data.segments import Segment, SegmentOptions, fixed_windows, segment_recording

from tests.data.conftest import write_wav

SR = 16_000


def _speech_only(x: np.ndarray, below_peak_db: float = 25.0) -> np.ndarray:
    """``x`` cut to its first and last 10 ms frame within ``below_peak_db`` of its loudest frame."""
    n = x.shape[0] // 160
    rms = np.sqrt((x[: n * 160].reshape(n, 160) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-below_peak_db / 20))
    return x[loud[0] * 160:(loud[-1] + 1) * 160]


def _joined_recording(shared_data: Path, seed: int, path: Path) -> list[tuple[float, float]]:
    """Six RAVDESS clips (cut to their speech) joined by 1-2 s of low noise; returns each clip's span."""
    clips = sorted((shared_data / "ravdess" / "audio").glob("Actor_*/*.flac"))
    if not clips:
        pytest.skip(f"{shared_data / 'ravdess'} has no audio")
    rng = np.random.default_rng(seed)
    chosen = [clips[i] for i in rng.choice(len(clips), 6, replace=False)]
    noise = lambda s: (1e-3 * rng.standard_normal(int(s * SR))).astype(np.float32)  # about -60 dBFS
    parts, truth, t = [noise(1.0)], [], SR
    for clip in chosen:
        x = _speech_only(load_audio(clip))
        truth.append((t / SR, (t + x.shape[0]) / SR))
        gap = noise(rng.uniform(1.0, 2.0))
        parts += [x, gap]
        t += x.shape[0] + gap.shape[0]
    sf.write(str(path), np.concatenate(parts), SR)
    return truth


@pytest.mark.parametrize("seed", [0, 2])
def test_vad_finds_each_clip_of_a_joined_recording_within_a_quarter_second(shared_data: Path, tmp_path: Path,
                                                                          seed: int):
    truth = _joined_recording(shared_data, seed, tmp_path / "long.flac")
    found = segment_recording(tmp_path / "long.flac", "vad")
    assert len(found) == len(truth), (found, truth)
    for (start, end), seg in zip(truth, found):
        assert abs(seg.start_s - start) <= 0.25 and abs(seg.end_s - end) <= 0.25, (seg, (start, end))


def test_vad_streams_in_blocks_without_changing_the_result(shared_data: Path, tmp_path: Path, monkeypatch):
    _joined_recording(shared_data, 0, tmp_path / "long.flac")
    x = load_audio(tmp_path / "long.flac")
    whole, n_whole = segments.speech_probabilities(tmp_path / "long.flac")
    monkeypatch.setattr(segments, "_BLOCK_S", 1)
    blocked, n_blocked = segments.speech_probabilities(tmp_path / "long.flac")
    assert n_whole == n_blocked == x.shape[0]
    np.testing.assert_allclose(blocked, whole, atol=1e-6)
    # The same recording at 44.1 kHz stereo goes through the streaming resampler, block by block.
    x44 = soxr.resample(x, SR, 44_100)
    sf.write(str(tmp_path / "long44.wav"), np.stack([x44, x44], axis=1), 44_100, subtype="FLOAT")
    at16 = segment_recording(tmp_path / "long.flac", "vad")
    at44 = segment_recording(tmp_path / "long44.wav", "vad")
    assert len(at44) == len(at16)
    for a, b in zip(at16, at44):
        assert abs(a.start_s - b.start_s) <= 0.07 and abs(a.end_s - b.end_s) <= 0.07


def test_prepare_audio_with_vad_writes_segment_rows_that_read_their_span(shared_data: Path, tmp_path: Path, capsys):
    folder = tmp_path / "pool"
    folder.mkdir()
    truth = _joined_recording(shared_data, 0, folder / "long.flac")
    sf.write(str(folder / "room_tone.wav"), (1e-3 * np.random.default_rng(1).standard_normal(3 * SR)), SR)
    out = tmp_path / "pool.csv"
    assert main(["prepare", "audio", str(folder), "-o", str(out), "--segment", "vad"]) == 0
    printed = capsys.readouterr().out
    assert "every recording is treated as its own speaker" in printed and "6 unlabelled" in printed
    assert "1 recording(s) gave no vad segment and are left out" in printed and "room_tone.wav" in printed
    m = read_manifest(out, check_files=True)
    assert len(m) == len(truth) and len(m.unlabelled()) == 6
    for u in m:
        assert u.id == f"pool_long_{round(u.start_s * 1000)}" and u.speaker == "pool_long"
        assert u.duration_s == pytest.approx(u.end_s - u.start_s, abs=1e-3)
        np.testing.assert_array_equal(load_clip(u), load_audio(u.path)[round(u.start_s * SR):round(u.end_s * SR)])


def test_fixed_windows():
    assert fixed_windows(12.3, SegmentOptions(window_s=5)) == [Segment(0, 5), Segment(5, 10), Segment(10, 12.3)]
    assert fixed_windows(12.3, SegmentOptions(window_s=5, min_segment_s=3)) == [Segment(0, 5), Segment(5, 10)]
    assert fixed_windows(10.0, SegmentOptions(window_s=4, hop_s=3)) == [
        Segment(0, 4), Segment(3, 7), Segment(6, 10)]
    assert fixed_windows(0.3, SegmentOptions(window_s=4)) == [Segment(0, 0.3)]   # a short file is one segment
    with pytest.raises(ValueError, match="--hop-s must be > 0"):
        SegmentOptions(hop_s=0)


def test_prepare_audio_fixed_and_none_any_rate_and_channels(tmp_path: Path, capsys):
    root = tmp_path / "pool"
    write_wav(root / "spk1" / "long.wav", seconds=12.0, sample_rate_hz=44_100, channels=2)
    write_wav(root / "spk2" / "short.flac", seconds=2.0, sample_rate_hz=8_000, fmt="FLAC")
    out = tmp_path / "fixed.csv"
    assert main(["prepare", "audio", str(root), "-o", str(out), "--segment", "fixed", "--window-s", "5",
                 "--speaker-regex", "^(spk\\d)/"]) == 0
    assert "own speaker" not in capsys.readouterr().out
    m = read_manifest(out)
    assert [(u.id, u.start_s, u.end_s) for u in m] == [
        ("pool_spk1-long_0", 0.0, 5.0), ("pool_spk1-long_5000", 5.0, 10.0), ("pool_spk1-long_10000", 10.0, 12.0),
        ("pool_spk2-short_0", 0.0, 2.0)]
    assert {u.speaker for u in m} == {"pool_spk1", "pool_spk2"} and all(u.emotion == "" for u in m)
    header = next(csv.reader(open(out, encoding="utf-8")))
    assert header[-3:] == ["source_path", "start_s", "end_s"]
    assert load_clip(m[1]).shape[0] == 5 * SR
    out = tmp_path / "whole.csv"
    assert main(["prepare", "audio", str(root), "-o", str(out)]) == 0
    assert "own speaker" in capsys.readouterr().out
    m = read_manifest(out)
    assert len(m) == 2 and not any(u.is_segment for u in m)
    assert "start_s" not in next(csv.reader(open(out, encoding="utf-8")))
    assert main(["prepare", "folder", str(root), "-o", str(tmp_path / "x.csv"), "--segment", "fixed"]) == 2
    assert "--segment applies to the audio recipe(s) only" in capsys.readouterr().err
