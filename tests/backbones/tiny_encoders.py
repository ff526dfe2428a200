"""Tiny random-init encoders saved with save_pretrained (loaded the way users load real ones), synthetic audio."""
from __future__ import annotations

import numpy as np

SR = 16_000


def _ssl_kwargs():
    return dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                conv_dim=(16, 16, 16), conv_kernel=(10, 3, 3), conv_stride=(5, 4, 4), conv_bias=True,
                num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, hidden_dropout=0.0,
                mask_time_prob=0.0)


def make_tiny(kind: str, folder) -> str:
    """Save a tiny random-init ``kind`` model to ``folder``; returns the folder as str."""
    import torch
    import transformers as tf
    torch.manual_seed(0)
    if kind == "wav2vec2":
        model = tf.Wav2Vec2Model(tf.Wav2Vec2Config(**_ssl_kwargs()))
    elif kind == "hubert":
        model = tf.HubertModel(tf.HubertConfig(**_ssl_kwargs()))
    elif kind == "wavlm":
        model = tf.WavLMModel(tf.WavLMConfig(**_ssl_kwargs(), num_buckets=16, max_bucket_distance=64))
    elif kind == "data2vec-audio":
        kw = _ssl_kwargs()
        kw.update(num_conv_pos_embeddings=3, conv_pos_kernel_size=9)
        model = tf.Data2VecAudioModel(tf.Data2VecAudioConfig(**kw))
    elif kind == "whisper":
        model = tf.WhisperModel(tf.WhisperConfig(
            d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
            decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80, vocab_size=64, pad_token_id=1,
            bos_token_id=2, eos_token_id=3, decoder_start_token_id=2, suppress_tokens=None, begin_suppress_tokens=None,
            max_target_positions=16, max_source_positions=1500))
    else:
        raise ValueError(kind)
    model.save_pretrained(str(folder))
    return str(folder)


def tones(n: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Two classes of synthetic audio: a low (220 Hz) or high (1760 Hz) tone in noise, 0.4 to 1.0 s."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    waves = []
    for label in y:
        t = np.arange(int(rng.uniform(0.4, 1.0) * SR)) / SR
        f = 220.0 if label == 0 else 1760.0
        waves.append((0.5 * np.sin(2 * np.pi * f * t) + 0.05 * rng.normal(size=t.shape)).astype(np.float32))
    return waves, y


def write_tones(folder, n: int, seed: int):
    """``n`` tone clips of :func:`tones` written as ``folder/audio/tNN.wav``: (paths as str, labels)."""
    import soundfile as sf
    waves, y = tones(n, seed=seed)
    from pathlib import Path
    audio = Path(folder) / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, w in enumerate(waves):
        sf.write(audio / f"t{i:02d}.wav", w, 16000)
        paths.append(str(audio / f"t{i:02d}.wav"))
    return paths, y
