import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from after.backbones import extract_embeddings, load_backbone
from after.backbones.base import masked_mean

from tiny_encoders import make_tiny, tones


@pytest.fixture
def clips(tmp_path):
    waves, _ = tones(6)
    paths = []
    for i, w in enumerate(waves):
        p = tmp_path / "audio" / f"c{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, w, 16000, subtype="FLOAT")
        paths.append(str(p))
    return paths


def test_cached_per_clip_and_shared_across_manifests(tmp_path, clips):
    bb = load_backbone(make_tiny("whisper", tmp_path / "w"))
    cache = tmp_path / "cache"
    first = extract_embeddings(bb, clips, cache_dir=cache, batch_seconds=2.0)
    assert first.shape == (6, 3, 32) and first.dtype == np.float32
    assert len(list(cache.rglob("*.npy"))) == 6

    # Another manifest: a copy of a clip under a new name plus a subset -> all cache hits.
    copy = tmp_path / "other" / "renamed.wav"
    copy.parent.mkdir()
    shutil.copy(clips[2], copy)

    def boom(*a, **k):
        raise AssertionError("the encoder ran although every clip was cached")

    bb.forward = boom
    again = extract_embeddings(bb, [str(copy), clips[0]], cache_dir=cache)
    np.testing.assert_array_equal(again, first[[2, 0]])


def test_cache_matches_fresh_and_is_keyed_by_weights(tmp_path, clips):
    bb = load_backbone(make_tiny("wav2vec2", tmp_path / "w"))
    cache = tmp_path / "cache"
    cached = extract_embeddings(bb, clips, cache_dir=cache)
    fresh = extract_embeddings(bb, clips, use_cache=False)
    np.testing.assert_allclose(cached, fresh, rtol=2e-3, atol=2e-3)   # stored as float16
    with torch.no_grad():
        bb.model.encoder.layers[0].feed_forward.output_dense.weight.mul_(2.0)
    changed = extract_embeddings(bb, clips, cache_dir=cache)
    assert len([d for d in (cache / "embeddings").iterdir()]) == 2
    assert not np.allclose(changed[:, 1:], cached[:, 1:], atol=1e-3)


def test_pooling_ignores_padding(tmp_path, clips):
    """A short clip's embedding barely depends on a longer batch partner (attention-masked wav2vec2: exactly)."""
    folder = make_tiny("wav2vec2", tmp_path / "w")
    import json
    cfg = json.load(open(f"{folder}/config.json"))
    cfg["feat_extract_norm"] = "layer"             # a model trained with an attention mask
    cfg["do_stable_layer_norm"] = True
    json.dump(cfg, open(f"{folder}/config.json", "w"))
    import transformers as tf
    torch.manual_seed(0)
    tf.Wav2Vec2Model(tf.Wav2Vec2Config(**cfg)).save_pretrained(folder)
    bb = load_backbone(folder)
    assert bb.use_attention_mask
    short, long_ = np.ones(4000, np.float32) * 0.1, np.random.default_rng(0).normal(size=16000).astype(np.float32)
    short[::7] = -0.3
    with torch.no_grad():
        alone = bb([short])
        paired = bb([short, long_])
        a = masked_mean(alone.hidden_states, alone.mask)[:, 0]
        b = masked_mean(paired.hidden_states, paired.mask)[:, 0]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
