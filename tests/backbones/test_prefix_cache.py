"""The cached frozen prefix: same hidden states as the full encoder, only the top trains, it still learns."""
from pathlib import Path

import numpy as np
import pytest
import torch

from after.backbones import load_backbone
from after.backbones.prefix import FrozenPrefix, PrefixBackbone
from after.training.config import HeadConfig, ModelConfig, TrainConfig
from after.training.finetune import FineTuneLearner
from tiny_encoders import make_tiny, tones


def _tiny_whisper_with_4_layers(tmp_path):
    import transformers as tf
    torch.manual_seed(0)
    model = tf.WhisperModel(tf.WhisperConfig(
        d_model=32, encoder_layers=4, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
        decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80, vocab_size=64, pad_token_id=1,
        bos_token_id=2, eos_token_id=3, decoder_start_token_id=2, suppress_tokens=None, begin_suppress_tokens=None,
        max_target_positions=16, max_source_positions=1500))
    model.save_pretrained(str(tmp_path / "w4"))
    return str(tmp_path / "w4")


def test_prefix_then_top_equals_the_full_forward(tmp_path):
    folder = _tiny_whisper_with_4_layers(tmp_path)
    base = load_backbone(folder).eval()
    waves, _ = tones(3)
    prefix = FrozenPrefix(base, first=2, load_wave=lambda i: waves[i])
    top = PrefixBackbone(base, first=2).eval()
    with torch.no_grad():
        for i, w in enumerate(waves):          # one clip at a time: no padding on either side
            full = base([w])
            cached = top([prefix(i)])
            assert cached.hidden_states.shape == full.hidden_states.shape == (5, 1, full.mask.shape[1], 32)
            torch.testing.assert_close(cached.hidden_states, full.hidden_states, atol=2e-3, rtol=2e-3)
            assert prefix(i) is prefix(i)      # computed once, then served from the cache


def test_only_the_top_trains_and_the_loss_falls(tmp_path):
    # Random-init encoders lose a tone's pitch in their frozen bottom, so this uses the real tiny.en.
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "models" / "whisper-tiny.en"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: the real whisper-tiny.en is needed")
    folder = str(folder)
    waves, y = tones(16, seed=1)
    paths = []
    import soundfile as sf
    for i, w in enumerate(waves):
        p = tmp_path / f"c{i}.wav"
        sf.write(p, w, 16_000)
        paths.append(str(p))
    learner = FineTuneLearner(paths, folder, 2, model_cfg=ModelConfig(freeze="first_n", freeze_first_n=2),
                              head_cfg=HeadConfig(hidden_dim=16, dropout=0.0), seed=0,
                              train_cfg=TrainConfig(max_epochs=10, patience=10, batch_seconds=2.0, lr=1e-4,
                                                     head_lr=3e-3))
    assert isinstance(learner.model.backbone, PrefixBackbone)
    base = learner.model.backbone.base
    bottom_before = {k: v.clone() for k, v in base.encoder.layers[0].state_dict().items()}
    top_before = {k: v.clone() for k, v in base.encoder.layers[3].state_dict().items()}
    trainable = set(learner.model.trainable_state())
    assert trainable and not any(k.startswith("backbone.base") for k in trainable)
    assert all("layers.0." not in k and "layers.1." not in k and "conv" not in k for k in trainable)
    assert any("layers.3." in k or "top.1." in k for k in trainable)
    idx = np.arange(16)
    before = learner.predict_proba(idx)
    loss0 = float(-np.log(before[idx, y]).mean())
    learner.fit(idx[:12], y[:12], idx[12:], y[12:])
    loss1 = float(-np.log(learner.predict_proba(idx)[idx, y]).mean())
    assert loss1 < 0.7 * loss0
    assert all(torch.equal(v, base.encoder.layers[0].state_dict()[k]) for k, v in bottom_before.items())
    assert any(not torch.equal(v, base.encoder.layers[3].state_dict()[k]) for k, v in top_before.items())


def test_saved_encoder_is_the_whole_encoder(tmp_path):
    folder = _tiny_whisper_with_4_layers(tmp_path)
    base = load_backbone(folder)
    PrefixBackbone(base, first=2).save_pretrained(str(tmp_path / "saved"))
    again = load_backbone(str(tmp_path / "saved"))
    assert len(again.layers()) == 4
    torch.testing.assert_close(again.encoder.layers[3].fc1.weight, base.encoder.layers[3].fc1.weight)
