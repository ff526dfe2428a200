"""End-to-end fine-tuning behind the Learner API (for the active-learning loop and `after train`)."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from after.backbones.base import Backbone
from after.backbones.prefix import FrozenPrefix, PrefixBackbone, supports_prefix_cache
from after.backbones.embeddings import pick_device
from after.backbones.registry import load_backbone
from after.data.audio import as_span, load_span
from after.training.config import HeadConfig, ModelConfig, TrainConfig
from after.training.learners import load_learner_state, save_learner_state, seeded
from after.training.losses import as_soft_labels
from after.training.loop import gradient_embeddings, infer, mc_dropout_mode, train_model
from after.training.model import SERModel

log = logging.getLogger(__name__)


class FineTuneLearner:
    """Fine-tunes encoder + head on a pool of clips; indices are rows of ``paths``.

    ``paths``: audio paths, ``(path, start_s, end_s)`` spans or manifest rows (a segment row is read as its
    span of the recording; see :func:`~after.data.audio.as_span`).

    ``backbone``: a spec for :func:`~after.backbones.load_backbone` or a loaded :class:`Backbone` (then
    this learner owns and changes it). The freeze policy comes from ``model_cfg``.
    """

    def __init__(self, paths: Sequence, backbone: str | Backbone, n_classes: int,
                 model_cfg: ModelConfig = ModelConfig(freeze="none"), head_cfg: HeadConfig = HeadConfig(),
                 train_cfg: TrainConfig = TrainConfig(), seed: int = 0, device: str | None = None,
                 durations_s: Sequence[float] | None = None):
        self.spans = [as_span(p) for p in paths]
        self.paths = [sp.path for sp in self.spans]
        self.n_classes = int(n_classes)
        self.train_cfg = train_cfg
        self.seed = int(seed)
        bb = load_backbone(backbone) if isinstance(backbone, str) else backbone
        if not isinstance(bb, Backbone):
            raise ValueError(f"FineTuneLearner needs a neural backbone, got {getattr(bb, 'kind', bb)!r} "
                             "(hand-crafted features have nothing to fine-tune: use EmbeddingLearner)")
        self._inputs = self._wave
        if (model_cfg.freeze == "first_n" and model_cfg.freeze_first_n > 0 and train_cfg.cache_frozen_prefix
                and supports_prefix_cache(bb)):
            # The frozen bottom runs once per clip; training steps run only the layers above it.
            bb.to(pick_device(device)).eval()
            self._inputs = FrozenPrefix(bb, model_cfg.freeze_first_n, self._wave)
            bb = PrefixBackbone(bb, model_cfg.freeze_first_n)
            model_cfg = replace(model_cfg, freeze="none")
        with seeded(self.seed):
            self.model = SERModel(bb, self.n_classes, model_cfg, head_cfg)
        self.model.to(pick_device(device)).eval()
        self._initial = {k: v.cpu() for k, v in self.model.trainable_state().items()}
        d = durations_s if durations_s is not None else [sp.length_s() for sp in self.spans]
        self.durations_s = np.minimum(np.asarray(d, dtype=np.float64), train_cfg.max_clip_s)
        self._n_fits = 0

    def _wave(self, i: int) -> np.ndarray:
        return load_span(self.spans[i], max_duration_s=self.train_cfg.max_clip_s)

    def load(self, i: int):
        """The model's input for clip ``i``: its waveform, or its cached frozen-prefix hidden states."""
        return self._inputs(i)

    def reset(self) -> None:
        self.model.load_state_dict(self._initial, strict=False)
        self.model.eval()
        self._n_fits = 0

    def save_state(self, path) -> None:
        """Only the trainable tensors: the frozen part of the encoder never changes."""
        save_learner_state(path, self.model.trainable_state(), self._n_fits)

    def load_state(self, path) -> None:
        state, self._n_fits = load_learner_state(path)
        self.model.load_state_dict(state, strict=False)
        self.model.eval()

    def fit(self, train_idx, y_train, val_idx, y_val) -> dict:
        self._n_fits += 1
        return train_model(self.model, self.load, self.durations_s, np.asarray(train_idx, dtype=np.int64),
                           as_soft_labels(y_train, self.n_classes), np.asarray(val_idx, dtype=np.int64),
                           as_soft_labels(y_val, self.n_classes), self.train_cfg,
                           seed=self.seed * 1_000_003 + self._n_fits)

    def _infer(self, idx) -> tuple[np.ndarray, np.ndarray]:
        return infer(self.model, self.load, self.durations_s, idx, self.train_cfg.embed_batch_seconds,
                     self.train_cfg.amp)

    def predict_proba(self, idx) -> np.ndarray:
        self.model.eval()
        logits, _ = self._infer(idx)
        return torch.softmax(torch.from_numpy(logits), -1).numpy()

    def predict_mc(self, idx, n_samples: int, seed: int) -> np.ndarray:
        # One encoder pass per sample: dropout inside the encoder makes the samples differ there too.
        out = []
        with seeded(seed):
            mc_dropout_mode(self.model)
            try:
                for _ in range(n_samples):
                    logits, _ = self._infer(idx)
                    out.append(torch.softmax(torch.from_numpy(logits), -1).numpy())
            finally:
                self.model.eval()
        return np.stack(out, axis=-1)

    def embed(self, idx) -> np.ndarray:
        self.model.eval()
        return self._infer(idx)[1]

    def grad_embed(self, idx) -> np.ndarray:
        self.model.eval()
        logits, h = self._infer(idx)
        return gradient_embeddings(logits, h)
