"""Frozen hand-crafted feature "backbones": openSMILE eGeMAPS functionals and log-mel statistics.

They have no layers to fine-tune; each gives one ``[D]`` vector per clip, returned as ``[B, 1, D]`` so
they fit the same ``[n, L+1, D]`` embedding arrays as the neural backbones.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from after.backbones.base import SAMPLE_RATE_HZ


class EgemapsFeatures:
    """openSMILE eGeMAPSv02 functionals: 88 per clip (Eyben et al. 2016)."""

    kind = "egemaps"
    num_hidden_states = 1
    hidden_size = 88

    def __init__(self) -> None:
        try:
            import opensmile
        except ImportError as exc:
            raise ImportError("the egemaps backbone needs opensmile: pip install 'after[egemaps]'") from exc
        self._smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                      feature_level=opensmile.FeatureLevel.Functionals)
        self.source = f"opensmile-{opensmile.__version__}-eGeMAPSv02"

    def fingerprint(self) -> str:
        return hashlib.blake2b(self.source.encode(), digest_size=16).hexdigest()

    def embed(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """``[B, 1, 88]`` float32."""
        rows = [self._smile.process_signal(np.asarray(w, dtype=np.float32), SAMPLE_RATE_HZ).to_numpy()[0]
                for w in waves]
        return np.stack(rows).astype(np.float32)[:, None, :]


class LogMelStats:
    """Mean and standard deviation over time of 80 log-mel bands (25 ms window, 10 ms hop): 160 per clip."""

    kind = "logmel"
    num_hidden_states = 1
    n_mels = 80
    hidden_size = 2 * n_mels

    def __init__(self) -> None:
        from transformers.audio_utils import mel_filter_bank
        self._filters = mel_filter_bank(num_frequency_bins=201, num_mel_filters=self.n_mels, min_frequency=0.0,
                                        max_frequency=8000.0, sampling_rate=SAMPLE_RATE_HZ, norm="slaney",
                                        mel_scale="slaney").astype(np.float32)
        self.source = "logmel80-stats-v1"

    def fingerprint(self) -> str:
        return hashlib.blake2b(self.source.encode(), digest_size=16).hexdigest()

    def _one(self, w: np.ndarray) -> np.ndarray:
        win, hop = 400, 160
        w = np.asarray(w, dtype=np.float32)
        if w.shape[0] < win:
            w = np.pad(w, (0, win - w.shape[0]))
        n = 1 + (w.shape[0] - win) // hop
        frames = np.lib.stride_tricks.sliding_window_view(w, win)[::hop][:n] * np.hanning(win).astype(np.float32)
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2              # [n, 201]
        logmel = np.log(power @ self._filters + 1e-6)                 # [n, 80]
        return np.concatenate([logmel.mean(0), logmel.std(0)])

    def embed(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """``[B, 1, 160]`` float32."""
        return np.stack([self._one(w) for w in waves]).astype(np.float32)[:, None, :]
