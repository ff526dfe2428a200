"""Batched against one-clip-at-a-time prediction through the real whisper-tiny.en on real speech.

Whisper has no attention mask, so in a mixed-length batch a clip's frames would attend to the zeros
padding it to the longest clip (measured before batch keys on 48 RAVDESS/EmoDB clips, 1.2-3.9 s, a head
trained to convergence: max |p difference| 0.006 with 0.25 s buckets). Batches now hold clips of one
``batch_key`` (one encoder frame count), so batched predictions equal one-at-a-time ones up to float rounding.
"""
import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from after.backbones.embeddings import extract_embeddings
from after.data.audio import load_audio
from after.experiments.predict import Clip, predict_clips
from after.training.bundle import load_bundle, save_bundle
from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner

WHISPER = Path(__file__).resolve().parents[3] / "shared" / "models" / "whisper-tiny.en"
CLASSES = ["angry", "happy", "neutral", "sad"]


def real_clips(shared_data: Path, per_corpus: int) -> tuple[list[str], np.ndarray]:
    paths, y = [], []
    for corpus in ("ravdess", "emodb_crop2s"):
        with open(shared_data / corpus / "metadata.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["emotion"] in CLASSES]
        for r in rows[:: max(1, len(rows) // per_corpus)][:per_corpus]:
            paths.append(str(shared_data / corpus / r["file"]))
            y.append(CLASSES.index(r["emotion"]))
    return paths, np.asarray(y)


@pytest.mark.slow
def test_batched_prediction_matches_one_at_a_time_within_tolerance(shared_data, tmp_path):
    if not (WHISPER / "config.json").is_file():
        pytest.skip(f"{WHISPER} absent: the real whisper-tiny.en weights are needed")
    paths, y = real_clips(shared_data, 12)
    feats = extract_embeddings(str(WHISPER), paths, use_cache=False, batch_seconds=1e-3)
    head = HeadConfig(max_epochs=50, patience=50)
    learner = EmbeddingLearner(feats, head, 4, seed=0)
    learner.fit(np.arange(len(y)), y, np.arange(len(y)), y)
    save_bundle(tmp_path / "model", learner, CLASSES, backbone=str(WHISPER), head_cfg=head)
    bundle = load_bundle(tmp_path / "model")
    clips = [Clip(str(i), p, 0.0, sf.info(p).duration) for i, p in enumerate(paths)]
    single = predict_clips(bundle, clips, batch_seconds=1e-3).proba
    np.testing.assert_allclose(single, learner.predict_proba(np.arange(len(y))), atol=1e-5)
    batched = predict_clips(bundle, clips).proba                 # defaults: 60 s batches, 0.25 s buckets
    np.testing.assert_allclose(batched, single, atol=1e-5)
    mixed = bundle.predict_proba([load_audio(p) for p in paths])  # one unplanned mixed-length batch
    np.testing.assert_allclose(mixed, single, atol=1e-5)
