"""Model bundles: a reloaded bundle gives the probabilities of the learner that was in memory."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
from tiny_encoders import make_tiny, tones  # noqa: E402

from after.backbones.embeddings import extract_embeddings  # noqa: E402
from after.data.audio import load_audio  # noqa: E402
from after.training.bundle import BundleError, load_bundle, save_bundle  # noqa: E402
from after.training.config import HeadConfig, ModelConfig, TrainConfig  # noqa: E402
from after.training.learners import EmbeddingLearner  # noqa: E402

HEAD = HeadConfig(hidden_dim=16, max_epochs=20, patience=5)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    waves, y = tones(10, seed=3)
    paths = []
    for i, w in enumerate(waves):
        sf.write(folder / f"c{i}.wav", w, 16000)
        paths.append(str(folder / f"c{i}.wav"))
    return paths, [load_audio(p) for p in paths], y   # as read back (16-bit PCM), what the learners see


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    return make_tiny("whisper", tmp_path_factory.mktemp("tiny_whisper"))


def _one_at_a_time(bundle, waves):
    return np.concatenate([bundle.predict_proba([w]) for w in waves])


@pytest.mark.parametrize("backbone", ["whisper", "logmel"])
def test_frozen_bundle_round_trip(clips, tiny_whisper, tmp_path, backbone):
    paths, waves, y = clips
    spec = tiny_whisper if backbone == "whisper" else "logmel"
    # one clip per batch, float32 (no float16 cache): the learner sees exactly what the bundle computes
    feats = extract_embeddings(spec, paths, batch_seconds=1e-3, use_cache=False)
    learner = EmbeddingLearner(feats, HEAD, 2, seed=0, norm_idx=np.arange(6))
    learner.fit(np.arange(6), y[:6], np.arange(6, 8), y[6:8])
    save_bundle(tmp_path / "model", learner, ["high", "low"], backbone=spec, head_cfg=HEAD,
                config={"model": {"backbone": spec}}, metrics={"ua": 0.5}, max_clip_s=10.0)
    bundle = load_bundle(tmp_path / "model")
    assert bundle.kind == "frozen" and bundle.classes == ["high", "low"] and bundle.metrics == {"ua": 0.5}
    assert bundle.config["model"]["backbone"] == spec and bundle.max_clip_s == 10.0
    np.testing.assert_allclose(_one_at_a_time(bundle, waves), learner.predict_proba(np.arange(10)), atol=1e-5)
    meta = json.loads((tmp_path / "model" / "bundle.json").read_text())
    assert meta["provenance"]["package_version"] and len(meta["encoder"]["fingerprint"]) == 32


def test_frozen_bundle_refuses_changed_encoder_weights(clips, tmp_path):
    paths, waves, y = clips
    enc = make_tiny("whisper", tmp_path / "enc")
    feats = extract_embeddings(enc, paths[:4], use_cache=False)
    learner = EmbeddingLearner(feats, HEAD, 2, seed=0)
    save_bundle(tmp_path / "model", learner, ["a", "b"], backbone=enc, head_cfg=HEAD)
    import transformers as tf
    model = tf.WhisperModel.from_pretrained(enc)
    with torch.no_grad():
        model.encoder.layers[0].fc1.weight.add_(0.01)
    model.save_pretrained(enc)
    with pytest.raises(BundleError, match="not the one this model was trained on"):
        load_bundle(tmp_path / "model")


def test_not_a_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("kind", ["whisper", "wav2vec2"])
def test_finetuned_bundle_round_trip(clips, tmp_path, kind):
    from after.training.finetune import FineTuneLearner
    paths, waves, y = clips
    enc = make_tiny(kind, tmp_path / "enc")
    train = TrainConfig(max_epochs=2, patience=2, batch_seconds=4.0, embed_batch_seconds=1e-3, amp=False)
    learner = FineTuneLearner(paths, enc, 2, ModelConfig(backbone=enc, freeze="feature_encoder",
                                                         pooling="attentive"), HEAD, train, seed=0)
    learner.fit(np.arange(6), y[:6], np.arange(6, 8), y[6:8])
    save_bundle(tmp_path / "model", learner, ["high", "low"], backbone=enc, head_cfg=HEAD,
                max_clip_s=train.max_clip_s)
    assert (tmp_path / "model" / "encoder" / "config.json").is_file()
    bundle = load_bundle(tmp_path / "model")
    assert bundle.kind == "finetuned"
    np.testing.assert_allclose(_one_at_a_time(bundle, waves), learner.predict_proba(np.arange(10)), atol=1e-5)


def test_finetuned_bundle_of_a_cached_prefix_learner_holds_the_whole_encoder(clips, tmp_path):
    """freeze=first_n with the prefix cache trains a PrefixBackbone; the bundle must still run on waveforms."""
    from after.training.finetune import FineTuneLearner
    paths, waves, y = clips
    enc = make_tiny("whisper", tmp_path / "enc")
    train = TrainConfig(max_epochs=1, batch_seconds=4.0, embed_batch_seconds=1e-3, amp=False)
    learner = FineTuneLearner(paths, enc, 2, ModelConfig(backbone=enc, freeze="first_n", freeze_first_n=1),
                              HEAD, train, seed=0)
    learner.fit(np.arange(6), y[:6], np.arange(6, 8), y[6:8])
    save_bundle(tmp_path / "model", learner, ["high", "low"], backbone=enc, head_cfg=HEAD)
    bundle = load_bundle(tmp_path / "model")
    # the learner's frozen prefix states are kept in float16: agreement to that precision
    np.testing.assert_allclose(_one_at_a_time(bundle, waves), learner.predict_proba(np.arange(10)), atol=2e-3)
