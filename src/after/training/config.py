"""Configuration of models and training, one frozen dataclass per concern (defaults and help in one place)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from after.config import require

FREEZE_POLICIES = ("none", "feature_encoder", "first_n", "encoder")


@dataclass(frozen=True)
class HeadConfig:
    """The classifier on pooled features: learned softmax weights over layers -> MLP with dropout.

    Also the whole model of the frozen fast path (:class:`~after.training.learners.EmbeddingLearner`).
    """

    layers: Literal["weighted", "last"] = "weighted"   # learned weighted sum of all hidden states, or the last
    hidden_dim: int = 256                              # 0: a linear head
    dropout: float = 0.2
    lr: float = 1e-3            # the head alone learns best well above the fine-tuning rate
    weight_decay: float = 1e-4
    max_epochs: int = 300
    patience: int = 30          # epochs without a lower validation loss before stopping
    batch_size: int = 1024      # rows per step; training sets up to this size go full-batch
    class_weights: bool = False  # inverse-frequency class weights in the loss
    input_noise: float = 0.0    # frozen path: std of Gaussian noise added to the standardised features in training
    # frozen path: feature statistics (mean/std per layer and dim) over the training rows (global), or over
    # each corpus's / speaker's own clips, test clips included: their audio, never their labels
    # (unsupervised adaptation; after.training.normalization)
    normalize: Literal["global", "corpus", "speaker"] = "global"

    def __post_init__(self) -> None:
        require(self.hidden_dim >= 0, "hidden_dim", self.hidden_dim, "must be >= 0 (0: a linear head)")
        require(0 <= self.dropout < 1, "dropout", self.dropout, "must be in [0, 1)")
        require(self.lr > 0, "lr", self.lr, "must be > 0")
        require(self.weight_decay >= 0, "weight_decay", self.weight_decay, "must be >= 0")
        require(self.max_epochs >= 1, "max_epochs", self.max_epochs, "must be >= 1")
        require(self.patience >= 0, "patience", self.patience, "must be >= 0")
        require(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1")
        require(self.input_noise >= 0, "input_noise", self.input_noise, "must be >= 0")
        require(self.normalize in ("global", "corpus", "speaker"), "normalize", self.normalize,
                "must be global, corpus or speaker")


@dataclass(frozen=True)
class ModelConfig:
    """Encoder, how much of it trains, and how frames are pooled."""

    backbone: str = "whisper-tiny.en"   # alias, hub id, local HF folder, "egemaps" or "logmel"
    freeze: Literal["none", "feature_encoder", "first_n", "encoder"] = "encoder"
    freeze_first_n: int = 0             # with freeze=first_n: the CNN front end plus the first N layers
    pooling: Literal["mean", "attentive"] = "mean"
    # LayerNorm (no affine) on every hidden state before the layer mix: layers differ in scale by 10x or
    # more, and without it the mix is dominated by the loudest layer (the frozen head standardises too)
    normalize_layers: bool = True

    def __post_init__(self) -> None:
        require(self.freeze_first_n >= 0, "freeze_first_n", self.freeze_first_n, "must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """End-to-end fine-tuning (Adam, lr 1e-4 as in the AFTER paper)."""

    lr: float = 1e-4
    head_lr: float = 1e-3               # the freshly initialised head and layer weights
    weight_decay: float = 0.0
    max_epochs: int = 10
    patience: int = 3                   # epochs without a lower validation loss before stopping
    batch_seconds: float = 60.0         # padded audio seconds per step (length-bucketed batches)
    grad_accum: int = 1                 # steps accumulated per optimizer update
    max_clip_s: float = 10.0            # clips are cropped to this length
    amp: bool = True                    # mixed precision; only ever used on CUDA
    class_weights: bool = False
    embed_batch_seconds: float = 120.0  # inference batches (prediction, frozen embeddings)
    cache_frozen_prefix: bool = True    # freeze=first_n (Whisper): run the frozen bottom once per clip, not per step

    def __post_init__(self) -> None:
        for key in ("lr", "head_lr", "batch_seconds", "max_clip_s", "embed_batch_seconds"):
            require(getattr(self, key) > 0, key, getattr(self, key), "must be > 0")
        require(self.weight_decay >= 0, "weight_decay", self.weight_decay, "must be >= 0")
        require(self.max_epochs >= 1, "max_epochs", self.max_epochs, "must be >= 1")
        require(self.patience >= 0, "patience", self.patience, "must be >= 0")
        require(self.grad_accum >= 1, "grad_accum", self.grad_accum, "must be >= 1")
