"""A clip's embedding, prediction or frames at inference never depend on which clips share its batch.

Whisper (no attention mask) and group-norm wav2vec2 (no attention mask) attend to a clip's padding; before
batches were split by ``Backbone.batch_key``, a clip in a mixed-length batch got other features than alone.
"""
import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tiny_encoders import SR, make_tiny

# Lengths in samples: 16000/16100/16200 are 50, 51, 51 Whisper frames (two share a key); the rest differ.
LENGTHS = (16000, 16100, 16200, 8000, 12345, 20000, 4321, 16150)


def _waves(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = [np.arange(n) / SR for n in LENGTHS]
    return [(0.3 * np.sin(2 * np.pi * rng.uniform(150, 900) * x) + 0.05 * rng.normal(size=x.shape))
            .astype(np.float32) for x in t]


def _write(folder: Path, waves) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, w in enumerate(waves):
        p = folder / f"c{i}.wav"
        sf.write(p, w, SR, subtype="FLOAT")
        paths.append(str(p))
    return paths


def _tiny(kind: str, folder: Path):
    from after.backbones import load_backbone
    if kind == "wav2vec2-layernorm":   # trained with an attention mask (feat_extract_norm == "layer")
        import transformers as tf
        from tiny_encoders import _ssl_kwargs
        torch.manual_seed(0)
        tf.Wav2Vec2Model(tf.Wav2Vec2Config(**_ssl_kwargs(), feat_extract_norm="layer")).save_pretrained(folder)
        return load_backbone(str(folder))
    return load_backbone(make_tiny(kind, folder))


@pytest.fixture(params=["whisper", "wav2vec2", "hubert", "wav2vec2-layernorm"])
def tiny(request, tmp_path):
    return request.param, _tiny(request.param, tmp_path / "enc")


def _alone(bb, waves) -> np.ndarray:
    from after.backbones import pooled_hidden_states
    return np.concatenate([pooled_hidden_states(bb, [w]) for w in waves])


def test_mixed_batch_gives_every_clip_its_embedding_alone(tiny, tmp_path):
    """The safety net: one forward call on a mixed-length batch, no planning at all."""
    from after.backbones import pooled_hidden_states
    kind, bb = tiny
    waves = _waves()
    batched = pooled_hidden_states(bb, waves)
    np.testing.assert_allclose(batched, _alone(bb, waves), atol=1e-5, rtol=1e-4, err_msg=kind)


def test_extraction_does_not_depend_on_batch_seconds(tiny, tmp_path):
    from after.backbones import extract_embeddings
    kind, bb = tiny
    paths = _write(tmp_path / "audio", _waves(1))
    big = extract_embeddings(bb, paths, use_cache=False, batch_seconds=60)
    one = extract_embeddings(bb, paths, use_cache=False, batch_seconds=0.01)   # one clip per batch
    np.testing.assert_allclose(big, one, atol=1e-5, rtol=1e-4, err_msg=kind)


def test_batch_keys_follow_what_each_clip_is_padded_to_alone(tmp_path):
    """Whisper's key is the frame count its feature extractor pads a clip to alone; SSL keys by the mask."""
    whisper = _tiny("whisper", tmp_path / "w")
    for n in (1, 319, 320, 321, 16001, 40000):
        alone = whisper.log_mel([torch.zeros(n)]).shape[-1]
        assert 2 * whisper.batch_key(n) == alone, n
    assert whisper.batch_key(10 ** 7) == whisper.max_frames                 # cropped to 30 s like forward
    assert _tiny("wav2vec2", tmp_path / "g").batch_key(16001) == 16001      # group norm: no mask, exact length
    layer = _tiny("wav2vec2-layernorm", tmp_path / "l")
    assert layer.batch_key(16001) == layer.batch_key(321)                   # masked: one key for all


def _ser_model(bb):
    from after.training.config import HeadConfig, ModelConfig
    from after.training.model import SERModel
    torch.manual_seed(0)
    return SERModel(bb, 3, ModelConfig(freeze="encoder"), HeadConfig(hidden_dim=8, dropout=0.0)).eval()


def test_fine_tuned_predictions_are_the_clip_alone_even_with_wrong_durations(tmp_path):
    """``infer`` splits a loaded batch by key, even when the planning durations say every clip is 1 s."""
    from after.training.loop import infer
    model = _ser_model(_tiny("whisper", tmp_path / "w"))
    waves = _waves(2)
    idx = np.arange(len(waves))
    wrong = np.ones(len(waves))
    logits, h = infer(model, lambda i: waves[i], wrong, idx, batch_seconds=60, amp=False)
    for i in idx:
        li, hi = infer(model, lambda j: waves[j], wrong, [i], batch_seconds=60, amp=False)
        np.testing.assert_allclose(logits[i], li[0], atol=1e-5)
        np.testing.assert_allclose(h[i], hi[0], atol=1e-5)


def test_gmpatl_predictions_and_frames_are_the_clip_alone(tmp_path):
    from after.training.config import HeadConfig, ModelConfig
    from after.training.gmpatl.model import GMPModel
    from after.training.gmpatl.pseudolabels import training_frames
    from after.training.gmpatl.stages import Clips, predict
    torch.manual_seed(0)
    model = GMPModel(_tiny("whisper", tmp_path / "w"), 3, ModelConfig(freeze="none"),
                     HeadConfig(hidden_dim=8, dropout=0.0), with_gender=False)
    waves = _waves(3)
    n = len(waves)
    clips = Clips(read=lambda i, s: waves[i], durations_s=np.full(n, 1.0), emotion=np.zeros(n, np.int64),
                  gender=np.zeros(n, np.int64))
    rows = np.arange(n)
    together = predict(model, clips, rows, 30.0, 60.0)
    frames = training_frames(model, lambda i: waves[i], rows, clips.durations_s, 1, 60.0)
    for i in rows:
        np.testing.assert_allclose(together[i], predict(model, clips, rows[i:i + 1], 30.0, 60.0)[0], atol=1e-5)
        alone = training_frames(model, lambda j: waves[j], rows[i:i + 1], clips.durations_s, 1, 60.0)[0]
        np.testing.assert_allclose(frames[i], alone, atol=1e-5)


def test_planning_keeps_batches_large_when_clips_share_a_key():
    from after.backbones.batching import length_batches
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 4, size=200)
    durations = 2.0 + 0.001 * rng.random(200)
    batches = length_batches(durations, 1000.0, keys=keys)
    assert len(batches) == 4                                   # one batch per key: nothing else closes them
    assert sorted(np.concatenate(batches).tolist()) == list(range(200))
    assert all(len(set(keys[b].tolist())) == 1 for b in batches)
    small = length_batches(durations, 21.0, keys=keys)        # at most 10 clips of ~2 s per batch
    assert all(len(set(keys[b].tolist())) == 1 and len(b) * durations[b].max() <= 21.0 for b in small)
    assert len(small) == sum(-(-int(np.sum(keys == k)) // 10) for k in range(4))


def test_whisper_planning_puts_clips_of_one_frame_count_together(tmp_path):
    from after.backbones.batching import inference_batches
    whisper = _tiny("whisper", tmp_path / "w")
    durations = np.array([1.000, 1.005, 1.010, 1.015, 1.025, 1.030, 2.0])   # frames 50, 51, 51, 51, 52, 52, 100
    batches = inference_batches(whisper, durations, 60.0)
    assert [sorted(b.tolist()) for b in batches] == [[0], [1, 2, 3], [4, 5], [6]]


SHARED = Path(__file__).resolve().parents[3] / "shared"
WHISPER_TINY = SHARED / "models" / "whisper-tiny.en"


@pytest.mark.slow
def test_real_whisper_embeddings_of_ravdess_clips_do_not_depend_on_the_batch(shared_data):
    """The genuine whisper-tiny.en on 10 RAVDESS clips of different lengths: batched equals alone."""
    if not (WHISPER_TINY / "model.safetensors").is_file():
        pytest.skip(f"needs the genuine whisper-tiny.en beside the project: {WHISPER_TINY}")
    from after.backbones import extract_embeddings, load_backbone
    rows = list(csv.DictReader(open(shared_data / "ravdess" / "metadata.csv")))[:10]
    paths = [str(shared_data / "ravdess" / r["file"]) for r in rows]
    from after.backbones import pooled_hidden_states
    from after.data.audio import load_audio
    bb = load_backbone(str(WHISPER_TINY))
    one = extract_embeddings(bb, paths, use_cache=False, batch_seconds=0.01)   # one clip per batch
    big = extract_embeddings(bb, paths, use_cache=False, batch_seconds=60)
    mixed = pooled_hidden_states(bb, [load_audio(p) for p in paths])          # one mixed batch, unplanned
    for got in (big, mixed):
        rel = np.linalg.norm(got - one, axis=-1) / np.linalg.norm(one, axis=-1)
        assert rel.max() < 1e-5, rel.max()


def test_cached_frozen_prefix_predictions_are_the_clip_alone(tmp_path):
    """freeze: first_n on Whisper feeds cached prefix states (``PrefixBackbone``): keyed by their frame count."""
    from after.training.config import HeadConfig, ModelConfig
    from after.training.finetune import FineTuneLearner
    paths = _write(tmp_path / "audio", _waves(4))
    learner = FineTuneLearner(paths, _tiny("whisper", tmp_path / "w"), 3,
                              model_cfg=ModelConfig(freeze="first_n", freeze_first_n=1),
                              head_cfg=HeadConfig(hidden_dim=8, dropout=0.0), durations_s=[1.0] * len(paths))
    assert type(learner.model.backbone).__name__ == "PrefixBackbone"
    together = learner.embed(np.arange(len(paths)))
    for i in range(len(paths)):
        np.testing.assert_allclose(together[i], learner.embed([i])[0], atol=1e-5)
