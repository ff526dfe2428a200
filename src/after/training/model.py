"""The end-to-end SER model: encoder -> learned layer mix -> pooling over valid frames -> MLP head.

Freeze policies (``ModelConfig.freeze``): ``none``; ``feature_encoder`` (the CNN front end);
``first_n`` (everything below layer ``freeze_first_n``: front end, embeddings and the first N layers);
``encoder`` (all but the head). Frozen parts keep ``requires_grad=False`` and, when the whole encoder is
frozen, stay in eval mode while the head trains.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from after.backbones.base import Backbone, Waves
from after.training.config import HeadConfig, ModelConfig
from after.training.heads import POOLINGS, LayerMix, MLPHead

log = logging.getLogger(__name__)


def apply_freeze(backbone: Backbone, policy: str, first_n: int = 0) -> None:
    """Set ``requires_grad`` on the backbone's parameters according to ``policy``."""
    for p in backbone.parameters():
        p.requires_grad_(policy != "encoder")
    if policy in ("none", "encoder"):
        return
    if policy == "feature_encoder":
        for m in backbone.feature_encoder():
            m.requires_grad_(False)
    elif policy == "first_n":
        layers = backbone.layers()
        if not 0 <= first_n <= len(layers):
            raise ValueError(f"freeze_first_n must be in [0, {len(layers)}] for this backbone, got {first_n}")
        trainable = {id(p) for layer in list(layers)[first_n:] for p in layer.parameters()}
        trainable |= {id(p) for m in backbone.top_modules() for p in m.parameters()}
        for p in backbone.parameters():
            p.requires_grad_(id(p) in trainable)
    else:
        raise ValueError(f"unknown freeze policy {policy!r}; use none, feature_encoder, first_n or encoder")
    if getattr(backbone, "_full_pos", None) is not None:
        backbone.encoder.embed_positions.requires_grad_(False)  # fixed sinusoids, never trained


class SERModel(nn.Module):
    """``forward(waves) -> logits [B, C]``; ``penultimate(waves) -> [B, H]``."""

    def __init__(self, backbone: Backbone, n_classes: int, model_cfg: ModelConfig, head_cfg: HeadConfig):
        super().__init__()
        self.backbone = backbone
        self.model_cfg = model_cfg
        dim = backbone.hidden_size
        self.mix = LayerMix(backbone.num_hidden_states, head_cfg.layers)
        self.pool = POOLINGS[model_cfg.pooling](dim)
        self.head = MLPHead(dim, n_classes, head_cfg.hidden_dim, head_cfg.dropout)
        apply_freeze(backbone, model_cfg.freeze, model_cfg.freeze_first_n)

    def train(self, mode: bool = True) -> "SERModel":
        super().train(mode)
        if self.model_cfg.freeze == "encoder":
            self.backbone.eval()  # a frozen encoder gets no dropout / SpecAugment noise
        return self

    def head_modules(self) -> list[nn.Module]:
        return [self.mix, self.pool, self.head]

    def penultimate(self, waves: Waves) -> torch.Tensor:
        out = self.backbone(waves)
        hidden = out.hidden_states
        if self.model_cfg.normalize_layers:
            hidden = nn.functional.layer_norm(hidden, hidden.shape[-1:])
        frames = self.mix(hidden.permute(1, 2, 0, 3))     # [B, T, L+1, D] -> [B, T, D]
        return self.head.penultimate(self.pool(frames, out.mask))

    def forward(self, waves: Waves) -> torch.Tensor:
        return self.head.out(self.penultimate(waves))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Copies of the parameters that training can change (what best/initial checkpoints keep)."""
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {k: v.detach().clone() for k, v in self.state_dict().items() if k in names}


def save_checkpoint(model: SERModel, folder: str | Path, config: dict, labels: list[str]) -> Path:
    """``folder/backbone`` (HF ``save_pretrained``), ``folder/head.safetensors`` and ``folder/config.yaml``."""
    import yaml
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    model.backbone.save_pretrained(str(out / "backbone"))
    head = {k: v.contiguous() for m, prefix in ((model.mix, "mix."), (model.pool, "pool."), (model.head, "head."))
            for k, v in ((prefix + n, t) for n, t in m.state_dict().items())}
    save_file(head, str(out / "head.safetensors"))
    (out / "config.yaml").write_text(yaml.safe_dump({**config, "labels": list(labels)}, sort_keys=False))
    return out


def load_head(model: SERModel, folder: str | Path) -> None:
    """Load ``head.safetensors`` written by :func:`save_checkpoint` into ``model``."""
    state = load_file(str(Path(folder) / "head.safetensors"))
    for m, prefix in ((model.mix, "mix."), (model.pool, "pool."), (model.head, "head.")):
        m.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
