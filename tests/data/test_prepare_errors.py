"""Bad files: by default prepare fails once, naming every bad file; with skip it leaves them out."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from after.data.audio import load_audio
from after.data.corpora import PrepareError, prepare_ravdess

GOOD = ["Actor_01/03-01-01-01-01-01-01.wav", "Actor_02/03-01-03-01-01-01-02.wav"]
STEREO = "Actor_03/03-01-04-02-02-01-03.wav"
CORRUPT = "Actor_01/03-01-05-01-01-01-01.wav"
EMPTY = "Actor_02/03-01-05-01-01-01-02.wav"
NO_SAMPLES = "Actor_03/03-01-05-01-01-01-03.wav"


@pytest.fixture
def damaged(tree) -> Path:
    root = tree(GOOD)
    data = 0.1 * np.random.default_rng(0).standard_normal((66_150, 2))  # 1.5 s at 44.1 kHz, two channels
    (root / STEREO).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(root / STEREO), data, 44_100, subtype="PCM_16")
    (root / CORRUPT).write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio" + bytes(range(256)) * 4)
    (root / EMPTY).write_bytes(b"")
    sf.write(str(root / NO_SAMPLES), np.zeros((0, 1)), 16_000, subtype="PCM_16")
    return root


def test_default_fails_listing_every_bad_file(damaged: Path):
    with pytest.raises(PrepareError) as err:
        prepare_ravdess(damaged)
    msg = str(err.value)
    for name in (CORRUPT, EMPTY, NO_SAMPLES):
        assert Path(name).name in msg
    assert Path(STEREO).name not in msg
    assert "3 of 6 file(s)" in msg and "--on-error skip" in msg
    assert "no samples" in msg and "cannot be decoded" in msg
    assert sorted(Path(b.path).name for b in err.value.bad_files) == sorted(
        Path(n).name for n in (CORRUPT, EMPTY, NO_SAMPLES))


def test_skip_leaves_bad_files_out_and_reports_them(damaged: Path):
    result = prepare_ravdess(damaged, on_error="skip")
    assert len(result.manifest) == 3
    assert {Path(b.path).name for b in result.skipped} == {Path(n).name for n in (CORRUPT, EMPTY, NO_SAMPLES)}
    assert not {Path(u.path).name for u in result.manifest} & {Path(b.path).name for b in result.skipped}


def test_stereo_44k_file_is_valid_with_the_right_duration(damaged: Path):
    m = prepare_ravdess(damaged, on_error="skip").manifest
    u = m.by_id("ravdess_" + Path(STEREO).stem)
    assert u.duration_s == pytest.approx(1.5, abs=1e-4)
    wav = load_audio(u.path)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert wav.shape[0] == pytest.approx(24_000, abs=2)


def test_progress_is_reported_for_every_file(damaged: Path):
    calls = []
    prepare_ravdess(damaged, on_error="skip", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (6, 6) and len(calls) == 6


def test_duplicate_ids_are_bad_files(tree):
    # The same RAVDESS name under two folders: the second is reported naming the first.
    root = tree(["a/03-01-01-01-01-01-01.wav", "b/03-01-01-01-01-01-01.wav"])
    with pytest.raises(PrepareError, match="duplicate id 'ravdess_03-01-01-01-01-01-01'"):
        prepare_ravdess(root)


def test_empty_folder_is_an_error(tmp_path: Path):
    with pytest.raises(ValueError, match="no audio files found"):
        prepare_ravdess(tmp_path)
    with pytest.raises(FileNotFoundError):
        prepare_ravdess(tmp_path / "missing")
