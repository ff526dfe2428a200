"""Fixtures for TAPT: tiny random-init encoders (tests/backbones/tiny_encoders.py) and a synthetic corpus."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))

from tiny_encoders import make_tiny  # noqa: E402

SR = 16_000


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {k: make_tiny(k, root / k) for k in ("wav2vec2", "hubert", "whisper")}


def write_corpus(root: Path, n_speakers: int = 4, per_speaker: int = 4, labelled: bool = True,
                 short_clip: bool = False) -> tuple[Path, Path]:
    """FLAC tones in noise, a manifest and speaker folds (3 folds); ``labelled=False``: empty emotions.

    ``short_clip``: one clip of 30 ms (fewer encoder frames than a mask span) in every speaker.
    """
    from after.data.folds import write_folds
    from after.data.splits import split_by_group

    rng = np.random.default_rng(0)
    rows = []
    for s in range(n_speakers):
        for k in range(per_speaker):
            dur = 0.03 if (short_clip and k == 0) else 0.4 + 0.3 * rng.random()
            t = np.arange(int(dur * SR)) / SR
            wav = 0.3 * np.sin(2 * np.pi * 200 * (1 + k) * t) + 0.02 * rng.normal(size=t.size)
            path = root / "audio" / f"s{s}_{k}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, wav.astype(np.float32), SR)
            emo = ("angry", "sad")[k % 2] if labelled else ""
            rows.append(f"syn_s{s}_{k},audio/s{s}_{k}.flac,syn,spk{s},f,{emo},{emo},en,{len(t) / SR:.4f}")
    manifest = root / "manifest.csv"
    manifest.write_text("id,path,corpus,speaker,gender,emotion,original_label,language,duration_s\n"
                        + "\n".join(rows) + "\n")
    from after.data.manifest import Manifest, Utterance
    utts = Manifest(Utterance(id=r.split(",")[0], path="x", corpus="syn", speaker=r.split(",")[3], gender="f",
                              emotion="e", original_label="e", language="en", duration_s=1.0) for r in rows)
    folds = write_folds(split_by_group(utts, "speaker", min(3, n_speakers), 0.25, seed=0), root / "folds.csv")
    return manifest, folds
