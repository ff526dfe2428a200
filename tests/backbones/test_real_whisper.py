"""The shared whisper-tiny.en checkpoint really carries pretrained weights.

RAVDESS actors say one of two sentences ("Kids are talking by the door" / "Dogs are sitting by the door").
Pooled features of the real encoder tell them apart for held-out speakers; a random-init encoder of the
same config does not do nearly as well.
"""
import csv
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
MODEL = SHARED / "models" / "whisper-tiny.en"
RAVDESS = SHARED / "data" / "ravdess"

pytestmark = pytest.mark.slow


def _clips():
    """Neutral and calm clips, normal intensity, of 6 speakers: 4 per speaker and sentence (48 clips)."""
    rows = list(csv.DictReader(open(RAVDESS / "metadata.csv")))
    picked = []
    for spk in ("ravdess_01", "ravdess_02", "ravdess_03", "ravdess_04", "ravdess_05", "ravdess_06"):
        for sentence in ("01", "02"):
            rs = [r for r in rows if r["speaker"] == spk and r["statement"] == sentence
                  and r["emotion"] in ("neutral", "calm") and r["intensity"] == "normal"]
            picked += rs[:4]
    return [str(RAVDESS / r["file"]) for r in picked], np.array([int(r["statement"]) for r in picked]), \
        np.array([r["speaker"] for r in picked])


def _speaker_cv_accuracy(x, y, groups):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    pred = cross_val_predict(clf, x, y, groups=groups, cv=GroupKFold(n_splits=3))
    return float(np.mean(pred == y))


@pytest.mark.skipif(not (MODEL / "model.safetensors").is_file() or not (RAVDESS / "metadata.csv").is_file(),
                    reason=f"needs the shared model and data beside the project ({MODEL}, {RAVDESS})")
def test_pretrained_whisper_tells_the_sentence_far_better_than_random(tmp_path):
    import torch
    from transformers import WhisperConfig, WhisperModel

    from after.backbones import extract_embeddings, load_backbone

    paths, y, groups = _clips()
    assert len(paths) == 48
    real = load_backbone(str(MODEL))
    torch.manual_seed(0)
    rand_dir = tmp_path / "random"
    WhisperModel(WhisperConfig.from_pretrained(str(MODEL))).save_pretrained(str(rand_dir))
    rand = load_backbone(str(rand_dir))
    layer = 3   # a middle-upper layer (the shared README's probes peak there); pooled over valid frames only
    acc_real = _speaker_cv_accuracy(extract_embeddings(real, paths, use_cache=False)[:, layer], y, groups)
    acc_rand = _speaker_cv_accuracy(extract_embeddings(rand, paths, use_cache=False)[:, layer], y, groups)
    print(f"sentence id, held-out speakers: real {acc_real:.3f}, random-init {acc_rand:.3f}")
    assert acc_real >= 0.9, (acc_real, acc_rand)
    assert acc_real >= acc_rand + 0.2, (acc_real, acc_rand)
