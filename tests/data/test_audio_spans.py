"""The one audio reader reads a span of a file (a segment of a recording) exactly as the full read has it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from after.data.audio import AudioError, load_audio, load_clip
from after.data.manifest import Manifest, Utterance, read_manifest, write_manifest


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path / "rec.flac"
    sf.write(str(path), (0.2 * rng.standard_normal((16_000 * 7, 1))).astype(np.float32), 16_000)
    return path


@pytest.mark.parametrize("start_s,end_s", [(0.0, 1.0), (2.345, 4.5), (6.5, 7.0), (6.9, 9.0)])
def test_span_equals_the_slice_of_the_full_read(recording: Path, start_s: float, end_s: float):
    full = load_audio(recording)
    span = load_audio(recording, start_s=start_s, end_s=end_s)
    a, b = int(round(start_s * 16_000)), min(full.shape[0], int(round(end_s * 16_000)))
    np.testing.assert_array_equal(span, full[a:b])


def test_span_of_a_44k_stereo_file_matches_the_resampled_full_read(tmp_path: Path):
    # Resampling a span sees no context beyond it, so the edges differ slightly; the middle must agree.
    path = tmp_path / "stereo.wav"
    t = np.arange(44_100 * 4) / 44_100
    x = np.stack([np.sin(2 * np.pi * 220 * t), 0.5 * np.sin(2 * np.pi * 330 * t)], axis=1) * 0.3
    sf.write(str(path), x.astype(np.float32), 44_100, subtype="FLOAT")
    full = load_audio(path)
    span = load_audio(path, start_s=1.0, end_s=3.0)
    assert span.shape[0] == pytest.approx(32_000, abs=2)
    np.testing.assert_allclose(span[800:-800], full[16_000 + 800:16_000 + span.shape[0] - 800], atol=2e-3)


def test_a_segment_row_reads_only_its_span_after_a_manifest_round_trip(recording: Path, tmp_path: Path):
    seg = Utterance(id="rec_2000", path=str(recording), corpus="pool", speaker="pool_rec", gender="unknown",
                    emotion="", original_label="", language="", duration_s=1.5, start_s=2.0, end_s=3.5)
    back = read_manifest(write_manifest(Manifest([seg]), tmp_path / "pool.csv"))[0]
    assert (back.start_s, back.end_s, back.path) == (2.0, 3.5, str(recording))
    np.testing.assert_array_equal(load_clip(back), load_audio(recording)[32_000:56_000])


def test_bad_spans_are_named_errors(recording: Path):
    with pytest.raises(AudioError, match="after the end of the file"):
        load_audio(recording, start_s=10.0, end_s=11.0)
    with pytest.raises(AudioError, match="invalid span"):
        load_audio(recording, start_s=3.0, end_s=2.0)
