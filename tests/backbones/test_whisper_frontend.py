"""Whisper's cold-start features: the convolutional front end BEFORE positional embeddings are added.

Hidden state 0 of HF Whisper is the conv output plus the sinusoidal position table; pooled over a clip's
frames it carries the mean of the first T rows of that table, i.e. the clip's length. k-means on it then
clusters by duration. Tested on the genuine whisper-tiny.en weights in ../shared/models.
"""
import csv
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
MODEL = SHARED / "models" / "whisper-tiny.en"
RAVDESS = SHARED / "data" / "ravdess"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (MODEL / "model.safetensors").is_file() or not (RAVDESS / "metadata.csv").is_file(),
    reason=f"needs the shared whisper-tiny.en and RAVDESS beside the project ({MODEL}, {RAVDESS})")]


def _clips(n=60):
    rows = list(csv.DictReader(open(RAVDESS / "metadata.csv")))
    rng = np.random.default_rng(0)
    return [str(RAVDESS / rows[i]["file"]) for i in sorted(rng.choice(len(rows), n, replace=False))]


def _cv_r2(x, y):
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    pred = cross_val_predict(make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))), x, y, cv=5)
    return 1 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2)


def test_frontend_features_are_layer_zero_without_the_position_table():
    from after.backbones import load_backbone
    from after.backbones.embeddings import extract_embeddings
    import torch

    from after.data.audio import load_audio

    bb = load_backbone(str(MODEL))
    paths = _clips(6)
    hidden = extract_embeddings(bb, paths, use_cache=False)[:, 0]
    front = extract_embeddings(bb, paths, use_cache=False, features="frontend")
    assert front.shape == (6, 1, bb.hidden_size)
    table = bb._full_pos.numpy()
    for p, h, f in zip(paths, hidden, front[:, 0]):
        n_frames = int(bb.valid_frames(torch.tensor([len(load_audio(p))]))[0])
        # layer 0 = front end + mean of the first n_frames rows of the position table (up to batch padding)
        np.testing.assert_allclose(h - f, table[:n_frames].mean(0), atol=2e-2)
        assert np.abs(table[:n_frames].mean(0)).max() > 0.1     # and that term is not negligible


def test_duration_is_no_longer_linearly_predictable_from_the_cold_start_features():
    from after.backbones import load_backbone
    from after.backbones.embeddings import extract_embeddings
    from after.data.audio import audio_info

    bb = load_backbone(str(MODEL))
    paths = _clips(60)
    duration = np.array([audio_info(p).duration_s for p in paths])
    layer0 = extract_embeddings(bb, paths, use_cache=False)[:, 0]
    front = extract_embeddings(bb, paths, use_cache=False, features="frontend")[:, 0]
    r2_layer0, r2_front = _cv_r2(layer0, duration), _cv_r2(front, duration)
    assert r2_layer0 > 0.95            # positions in: duration read off almost exactly
    assert r2_front < r2_layer0 - 0.2, (r2_front, r2_layer0)
