"""``after tapt`` configuration: one frozen dataclass per concern, loaded from YAML with ``--set`` overrides.

The objective is Eq. 3 of AFTER (arXiv 2405.00307, section 3.2), ``L_TAPT = L_cl + L_rl``, generalised to a
weighted sum of switchable terms (a weight of 0 switches a term off):

- ``contrastive`` (Eq. 1): cosine similarity / temperature, the true target against the other targets of the
  same utterance. wav2vec 2.0: context vector vs quantized vectors of the other masked frames; encoders
  without a quantizer: projected context vector vs the random codebook's vectors used in the utterance.
- ``reconstruction`` (Eq. 2): cross-entropy over the code of each masked frame, predicted from its context
  vector (wav2vec 2.0: the gumbel quantizer's hard codes; others: BEST-RQ random-projection codes).
- ``diversity``: wav2vec 2.0's codebook diversity penalty (quantizer only).
- ``distillation``: a guard against forgetting, the adapted encoder's hidden states pulled towards the
  frozen original's on unmasked frames.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from after.data.sources import DataConfig


@dataclass(frozen=True)
class MaskConfig:
    """Span masking of encoder frames (20 ms each for Whisper and wav2vec2-base)."""

    fraction: float = 0.15        # share of each clip's valid frames masked (the paper: 15 %, after BERT)
    span: int = 10                # frames per span; shorter clips get shorter spans (at least 1 frame masked)
    noise_std: float = 0.1        # Whisper: masked log-mel frames become N(0, noise_std) noise (BEST-RQ)


@dataclass(frozen=True)
class ObjectiveConfig:
    """Weights of the terms of Eq. 3; 0 switches a term off."""

    contrastive: float = 1.0      # Eq. 1
    reconstruction: float = 1.0   # Eq. 2
    diversity: float = 0.1        # wav2vec 2.0 only (its quantizer's codebook diversity)
    distillation: float = 0.0     # > 0: guard against forgetting (a frozen copy of the start encoder)
    distill_metric: Literal["mse", "cosine"] = "mse"
    distill_layers: tuple[int, ...] = (-1,)   # hidden-state indices compared (-1: the last)
    temperature: float = 0.1      # kappa of Eq. 1
    gumbel_temperature: float = 0.5   # wav2vec 2.0's quantizer: where its pre-training annealed to (2 -> 0.5)
    # BEST-RQ random-projection quantizer (encoders without a quantizer: Whisper, HuBERT, WavLM, data2vec)
    n_codes: int = 256            # codebook size
    code_dim: int = 16            # codebook vector / projection width
    stack_frames: int = 2         # input frames stacked per encoder frame (Whisper: 2 mel frames = 20 ms)
    quantizer_seed: int = 1234    # same seed, same projection and codebook, same targets
    # targets: auto = wav2vec 2.0's own quantizer where the model has one, else random_projection (BEST-RQ);
    # kmeans = HuBERT's way: k-means units of a layer of the frozen original encoder (fitted on the pool)
    targets: Literal["auto", "random_projection", "kmeans"] = "auto"
    kmeans_layer: int | None = None   # hidden-state index; None: the middle layer
    kmeans_units: int = 100
    kmeans_clips: int = 200           # clips (a seeded subset of the pool) the units are fitted on
    kmeans_max_frames: int = 50_000


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-5
    weight_decay: float = 0.01
    head_lr: float = 1e-3         # the small training-only heads (code classifier, context projection)
    warmup_steps: int = 50        # linear warm-up, then linear decay to 0 at the last step
    max_grad_norm: float = 1.0
    precision: Literal["fp32", "fp16", "bf16"] = "fp16"   # fp16/bf16 apply on CUDA only; CPU runs fp32


@dataclass(frozen=True)
class TaptConfig:
    """`after tapt CONFIG.yaml -o RUN_DIR`: continued self-supervised training of an encoder."""

    backbone: str = "whisper-tiny.en"   # alias, hub id or local folder (relative to the config file)
    # data: manifest (+ folds + fold: that fold's TRAIN ids only), or corpora prepared and split on the
    # fly (then the fold's train ids too); a manifest without folds: all its rows. Labels are never read.
    data: DataConfig = field(default_factory=DataConfig)
    fold: int = 1                       # with folds: adapt on this fold's training clips only
    max_clips: int = 0                  # > 0: a seeded random subset of the pool (quick runs)
    max_clip_s: float = 10.0            # clips are cropped to this length (Whisper: at most 30 s)
    batch_seconds: float = 40.0         # padded audio seconds per step (length-bucketed batches)
    steps: int = 0                      # > 0: stop after this many optimizer steps ...
    epochs: float = 1.0                 # ... else this many passes over the pool
    seed: int = 0
    log_every: int = 1                  # steps between lines of steps.jsonl
    checkpoint_every: int = 50          # steps between checkpoints (and always at the end)
    device: str = "auto"                # auto: CUDA when available
    mask: MaskConfig = field(default_factory=MaskConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
