"""`after predict --normalize-by input|speaker`: a frozen bundle standardises the input's pooled features with
the input's own statistics (audio only, labels never read); the bundle records its head's normalize mode."""
import csv
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
from tiny_encoders import make_tiny, write_tones  # noqa: E402

from after.backbones.embeddings import extract_embeddings  # noqa: E402
from after.cli import main  # noqa: E402
from after.experiments.predict import PredictInputError, collect_clips, predict_clips  # noqa: E402
from after.training.bundle import load_bundle, save_bundle  # noqa: E402
from after.training.config import HeadConfig  # noqa: E402
from after.training.learners import EmbeddingLearner  # noqa: E402
from after.training.normalization import standardise  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Tone clips of two 'speakers' and a frozen tiny-Whisper bundle trained with normalize: speaker."""
    root = tmp_path_factory.mktemp("predict_norm")
    paths, y = write_tones(root, 12, seed=5)
    enc = make_tiny("whisper", root / "enc")
    feats = extract_embeddings(enc, paths, use_cache=False)
    speakers = ["s1" if i < 6 else "s2" for i in range(12)]
    head = HeadConfig(hidden_dim=16, max_epochs=30, patience=10, normalize="speaker")
    learner = EmbeddingLearner(feats, head, 2, seed=0, norm_groups=speakers)
    learner.fit(np.arange(12), 1 - y, np.arange(12), 1 - y)
    save_bundle(root / "model", learner, ["high", "low"], backbone=enc, head_cfg=head)
    return root, paths, y, feats, speakers


def _manifest(path, paths, speakers, labels):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "path", "corpus", "speaker", "emotion"])
        for i, (p, s, lab) in enumerate(zip(paths, speakers, labels)):
            w.writerow([f"u{i}", p, "c", s, lab])
    return path


def test_bundle_records_the_mode(setup):
    root, *_ = setup
    assert load_bundle(root / "model").normalize == "speaker"


def test_speaker_mode_equals_per_speaker_standardisation_and_ignores_labels(setup, tmp_path):
    root, paths, y, feats, speakers = setup
    bundle = load_bundle(root / "model")
    m1 = _manifest(tmp_path / "a.csv", paths, speakers, [["low", "high"][v] for v in y])
    m2 = _manifest(tmp_path / "b.csv", paths, speakers, ["high"] * len(paths))   # other labels
    seen = {}
    real = bundle.pooled

    def spy(waves):   # the pooled states predict computes, per clip (matched by the wave's bytes)
        out = real(waves)
        for w, x in zip(waves, out):
            seen[np.asarray(w).tobytes()] = x
        return out

    bundle.pooled = spy
    p1 = predict_clips(bundle, collect_clips([m1])[0], normalize_by="speaker")
    from after.experiments.predict import read_clip
    pooled = np.stack([seen[read_clip(c, bundle.max_clip_s).tobytes()] for c in p1.clips])
    np.testing.assert_allclose(pooled, feats, atol=0.05 * np.abs(feats).max())   # the same encoder states
    z, _, _ = standardise(pooled, "speaker", groups=[c.group for c in p1.clips])
    assert [c.group for c in p1.clips] == [f"c/{s}" for s in speakers]
    expected, _ = bundle.predict_standardised(z)
    np.testing.assert_allclose(p1.proba, expected, atol=1e-5)
    p2 = predict_clips(bundle, collect_clips([m2])[0], normalize_by="speaker")   # other labels, same answer
    np.testing.assert_allclose(p2.proba, p1.proba, atol=1e-6)
    # and it differs from the bundle's global statistics (the flag does something)
    p0 = predict_clips(bundle, collect_clips([m1])[0])
    assert np.abs(p0.proba - p1.proba).max() > 1e-4


def test_input_mode_uses_all_input_clips_as_one_group(setup, tmp_path):
    root, paths, y, feats, _ = setup
    # 8 of the 12 training clips: their own statistics differ from the pool's the bundle saved (all 12
    # clips: the same statistics, now that a clip's features do not depend on its batch)
    paths = paths[:8]
    bundle = load_bundle(root / "model")
    out = tmp_path / "p.csv"
    assert main(["predict", str(root / "model"), *paths, "-o", str(out), "--normalize-by", "input"]) == 0
    with open(out, newline="") as fh:
        got = np.array([[float(r["p_high"]), float(r["p_low"])] for r in csv.DictReader(fh)])
    # the same as the library call with every clip in one group: the input's own statistics
    clips = collect_clips(paths)[0]
    one = predict_clips(bundle, clips, normalize_by="input").proba
    np.testing.assert_allclose(got, one, atol=1e-5)
    groups = [c.group for c in clips]
    assert groups == [""] * len(paths)          # plain files: no speaker, and none needed
    glob = predict_clips(bundle, clips).proba
    assert np.abs(glob - one).max() > 1e-4


def test_speaker_mode_without_a_speaker_column_is_a_clear_error(setup):
    root, paths, *_ = setup
    with pytest.raises(PredictInputError, match="speaker column"):
        predict_clips(load_bundle(root / "model"), collect_clips(paths[:3])[0], normalize_by="speaker")
