"""GMP-ATL's configuration: one frozen dataclass per stage (defaults and the reasons for them here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from after.data.sources import DataConfig
from after.training.config import HeadConfig, ModelConfig, TrainConfig


@dataclass(frozen=True)
class PseudoLabelConfig:
    """Stage 2: frame features of one layer of the stage-1 model, clustered at several scales."""

    layer: int = -2                      # hidden state index (0: embeddings, L: last layer; negative from the top)
    n_clusters: tuple[int, ...] = (64, 256, 1024)   # one k-means (and one prediction head) per scale
    max_frames: int = 60_000             # frames sampled (evenly over training clips) to fit k-means on a CPU
    batch_size: int = 4096               # MiniBatchKMeans mini-batch
    max_iter: int = 20                   # passes over the sample (100 took 6 min for k=256 on a loaded CPU)
    n_init: int = 1


@dataclass(frozen=True)
class RetrainConfig:
    """Stage 3: masked-frame prediction of every scale's ids, plus the gender head with weight lambda."""

    epochs: int = 2                      # fixed: validation clips carry no pseudo-labels to early-stop on
    lr: float = 1e-4                     # encoder
    head_lr: float = 1e-3                # frame heads, mask vector, gender head
    batch_seconds: float = 60.0
    mask_prob: float = 0.08              # chance that a frame starts a masked span (HuBERT's p)
    mask_span: int = 10                  # frames per span (HuBERT's l; 200 ms for Whisper's 20 ms frames)
    predict_layer: int = -1              # hidden state the frame heads read (default: the top)


@dataclass(frozen=True)
class EmotionLossConfig:
    """Stage 4's objective (AM-Softmax: Wang et al. 2018, additive margin on cosine logits)."""

    loss: Literal["cross_entropy", "am_softmax"] = "am_softmax"
    margin: float = 0.2                  # AM-Softmax m, subtracted from the true class's cosine
    scale: float = 30.0                  # AM-Softmax s, multiplies every cosine


@dataclass(frozen=True)
class GMPATLConfig:
    """`after gmpatl CONFIG -o RUN_DIR`: the four stages on one fold.

    ``multitask`` and ``finetune`` reuse :class:`TrainConfig` for lr, head_lr, weight_decay, max_epochs,
    patience, batch_seconds, max_clip_s and embed_batch_seconds; its amp, grad_accum, class_weights and
    cache_frozen_prefix are not used here (fp32 steps, one update per batch, every layer run per step).
    Stages 2 and 3 crop clips at ``multitask.max_clip_s`` so frame ids line up with the frames.
    """

    data: DataConfig = field(default_factory=DataConfig)
    fold: int = 1                        # the fold (its train / val / test ids) the pipeline runs on
    model: ModelConfig = field(default_factory=lambda: ModelConfig(freeze="first_n", freeze_first_n=2))
    head: HeadConfig = field(default_factory=HeadConfig)        # emotion and gender heads: hidden_dim, dropout
    gender_weight: float = 1.0           # lambda for the gender loss in stages 1 and 3; 0: pseudo-TAPT (no gender)
    multitask: TrainConfig = field(default_factory=TrainConfig)     # stage 1 (early stopping on validation)
    pseudo_labels: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    finetune: TrainConfig = field(default_factory=TrainConfig)      # stage 4 (early stopping on validation)
    emotion_loss: EmotionLossConfig = field(default_factory=EmotionLossConfig)
    seed: int = 0
    device: str = "auto"                 # auto: CUDA when available

    @property
    def uses_gender(self) -> bool:
        return self.gender_weight > 0
