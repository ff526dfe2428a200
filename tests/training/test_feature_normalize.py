"""`normalize: global|corpus|speaker` of the frozen-embedding learner: per-group standardisation from each
group's own features (audio), never from labels."""
from __future__ import annotations

import numpy as np
import pytest

from after.config import ConfigError
from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner
from after.training.normalization import standardise


def _grouped(seed: int = 0):
    """Three groups with very different offsets and scales, [N, L, D]."""
    rng = np.random.default_rng(seed)
    groups = np.array(["a"] * 30 + ["b"] * 20 + ["c"] * 10)
    shift = {"a": 0.0, "b": 5.0, "c": -3.0}
    scale = {"a": 1.0, "b": 4.0, "c": 0.5}
    x = np.stack([rng.normal(shift[g], scale[g], size=(2, 6)) for g in groups]).astype(np.float32)
    return x, groups


@pytest.mark.parametrize("mode", ["corpus", "speaker"])
def test_each_group_gets_zero_mean_and_unit_std(mode):
    x, groups = _grouped()
    out, _, _ = standardise(x, mode, ref_idx=np.arange(30), groups=list(groups))
    for g in "abc":
        rows = out[groups == g]
        np.testing.assert_allclose(rows.mean(0), 0.0, atol=1e-5)
        np.testing.assert_allclose(rows.std(0), 1.0, atol=1e-4)


def test_known_answer_small():
    # group p: values 1 and 3 -> mean 2, std 1 -> -1, +1; group q: 10, 20, 30 -> mean 20, std sqrt(200/3)
    x = np.array([1.0, 3.0, 10.0, 20.0, 30.0], dtype=np.float32).reshape(5, 1, 1)
    out, mean, std = standardise(x, "speaker", groups=["p", "p", "q", "q", "q"])
    s = np.sqrt(200 / 3)
    np.testing.assert_allclose(out.ravel(), [-1, 1, -10 / s, 0, 10 / s], rtol=1e-5)
    # the global statistics are still returned (model bundles keep them)
    np.testing.assert_allclose(mean.ravel(), [12.8], rtol=1e-6)
    np.testing.assert_allclose(std.ravel(), [x.std()], rtol=1e-5)


def test_global_keeps_the_old_behaviour_of_reference_rows():
    x, groups = _grouped()
    out, mean, std = standardise(x, "global", ref_idx=np.arange(30), groups=list(groups))
    ref = x[:30]
    np.testing.assert_allclose(out, (x - ref.mean(0)) / ref.std(0), rtol=1e-5, atol=1e-5)
    # and the test rows (b, c) are not centred by global statistics from a's rows
    assert abs(out[groups == "b"].mean()) > 1.0


def test_a_one_clip_group_falls_back_to_global_statistics():
    x, groups = _grouped()
    groups = groups.copy()
    groups[-1] = "lonely"
    out, mean, std = standardise(x, "speaker", groups=list(groups))
    np.testing.assert_allclose(out[-1], (x[-1] - mean) / std, rtol=1e-5)
    assert np.isfinite(out).all()


def test_group_mode_without_groups_is_a_clear_error():
    x, _ = _grouped()
    with pytest.raises(ConfigError, match="normalize: corpus needs"):
        standardise(x, "corpus")
    with pytest.raises(ConfigError, match="not one of"):
        standardise(x, "utterance")
    with pytest.raises(ValueError, match="normalize"):
        HeadConfig(normalize="utterance")


def test_learner_features_do_not_depend_on_labels():
    """The learner's standardised features and statistics are fixed before any label is seen: fitting on
    two different labelings leaves them bit-identical, and they equal the per-group standardisation."""
    x, groups = _grouped()
    cfg = HeadConfig(hidden_dim=8, max_epochs=3, patience=1, normalize="speaker")
    learner = EmbeddingLearner(x, cfg, n_classes=2, seed=0, norm_idx=np.arange(30), norm_groups=list(groups))
    before = learner.x.clone().numpy()
    expected, _, _ = standardise(x, "speaker", np.arange(30), list(groups))
    np.testing.assert_allclose(before, expected, rtol=1e-6)
    rng = np.random.default_rng(1)
    for _ in range(2):
        y = rng.integers(0, 2, size=len(x))
        learner.fit(np.arange(40), y[:40], np.arange(40, 50), y[40:50])
        np.testing.assert_array_equal(learner.x.numpy(), before)


def test_learner_corpus_mode_removes_a_corpus_offset_that_global_keeps():
    """The point of the option: a test corpus shifted away from the training corpora is centred by its own
    statistics under corpus normalisation; with global statistics (training rows) it stays shifted."""
    x, groups = _grouped()
    train = np.flatnonzero(groups != "b")
    glob = EmbeddingLearner(x, HeadConfig(hidden_dim=4), 2, norm_idx=train)
    corp = EmbeddingLearner(x, HeadConfig(hidden_dim=4, normalize="corpus"), 2, norm_idx=train,
                            norm_groups=list(groups))
    b = groups == "b"
    assert abs(float(glob.x[b].mean())) > 1.0
    assert abs(float(corp.x[b].mean())) < 1e-4
    # the saved (bundle) statistics are the global ones of the training rows in both modes
    np.testing.assert_allclose(corp.norm_mean, glob.norm_mean)


def test_al_learner_gets_group_statistics_from_its_rows():
    """`after al`: learner.head.normalize corpus standardises pool, val and test rows by their corpus."""
    from after.experiments.active import LearnerConfig, learner_on_features
    x, groups = _grouped()
    cfg = LearnerConfig(head=HeadConfig(hidden_dim=4, normalize="corpus"), device="cpu")
    learner = learner_on_features(cfg, x, [f"p{i}" for i in range(len(x))], 2, seed=0, n_pool=30,
                                  norm_groups=list(groups))
    for g in "abc":
        np.testing.assert_allclose(learner.x.numpy()[groups == g].mean(0), 0.0, atol=1e-5)
    glob = learner_on_features(LearnerConfig(head=HeadConfig(hidden_dim=4), device="cpu"), x,
                               [f"p{i}" for i in range(len(x))], 2, seed=0, n_pool=30)
    np.testing.assert_allclose(glob.x.numpy()[:30].mean(0), 0.0, atol=1e-5)   # pool rows only
    assert abs(float(glob.x.numpy()[groups == "b"].mean())) > 1.0
