"""The GMP-ATL model: the SER model (encoder, layer mix, pooling, emotion head) plus a gender head on the
same pooled vector, one linear frame head per k-means scale, and the learned mask vector of stage 3."""
from __future__ import annotations

import torch
from torch import nn

from after.backbones.base import Backbone, BackboneOutput, Waves
from after.training.config import HeadConfig, ModelConfig
from after.training.gmpatl.amsoftmax import CosineLinear
from after.training.heads import MLPHead
from after.training.model import SERModel

N_GENDERS = 2          # f, m; "unknown" is masked out of the loss
GENDER_IDS = {"f": 0, "m": 1}
IGNORE = -100          # target of a frame or clip left out of a loss


class GMPModel(nn.Module):
    """``ser`` is a plain :class:`SERModel` (what is saved at the end); the rest are training-only heads."""

    def __init__(self, backbone: Backbone, n_emotions: int, model_cfg: ModelConfig, head_cfg: HeadConfig,
                 with_gender: bool):
        super().__init__()
        self.ser = SERModel(backbone, n_emotions, model_cfg, head_cfg)
        dim = backbone.hidden_size
        self.gender = MLPHead(dim, N_GENDERS, head_cfg.hidden_dim, head_cfg.dropout) if with_gender else None
        self.frame_heads = nn.ModuleList()
        self.mask_vector = nn.Parameter(torch.empty(dim).uniform_(-0.1, 0.1))   # HuBERT: uniform init

    @property
    def backbone(self) -> Backbone:
        return self.ser.backbone

    def train(self, mode: bool = True) -> "GMPModel":
        super().train(mode)
        self.ser.train(mode)      # keeps a fully frozen encoder in eval mode
        return self

    def add_frame_heads(self, n_clusters: tuple[int, ...]) -> None:
        """One ``Linear(D, k)`` per scale (stage 3 reads the encoder output through them)."""
        dim = self.backbone.hidden_size
        self.frame_heads = nn.ModuleList(nn.Linear(dim, k) for k in n_clusters)

    def use_cosine_head(self, scale: float) -> None:
        """Swap the emotion head's last layer for a cosine classifier (AM-Softmax), starting from its weights."""
        old = self.ser.head.out
        if isinstance(old, CosineLinear):
            return
        new = CosineLinear(old.in_features, old.out_features, scale).to(old.weight.device)
        with torch.no_grad():
            new.weight.copy_(old.weight)
        self.ser.head.out = new

    def head_modules(self) -> list[nn.Module]:
        """Everything but the encoder (trained at the head learning rate)."""
        extra = [self.gender] if self.gender is not None else []
        return [*self.ser.head_modules(), *extra, self.frame_heads]

    def encode(self, waves: Waves) -> BackboneOutput:
        out = self.backbone(waves)
        if self.ser.model_cfg.normalize_layers:
            out = BackboneOutput(nn.functional.layer_norm(out.hidden_states, out.hidden_states.shape[-1:]), out.mask)
        return out

    def pooled(self, out: BackboneOutput) -> torch.Tensor:
        """``[B, D]``: the layer mix pooled over valid frames (shared by the emotion and gender heads)."""
        return self.ser.pool(self.ser.mix(out.hidden_states.permute(1, 2, 0, 3)), out.mask)

    def emotion_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.ser.head(pooled)

    def gender_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.gender is None:
            raise RuntimeError("this model has no gender head (gender_weight is 0)")
        return self.gender(pooled)

    def frame_logits(self, out: BackboneOutput, layer: int) -> list[torch.Tensor]:
        """One ``[B, T, k]`` per scale from hidden state ``layer``."""
        h = out.hidden_states[layer]
        return [head(h) for head in self.frame_heads]

    def state_to_save(self) -> dict[str, torch.Tensor]:
        """Every tensor but Whisper's position table, which is cropped per batch (fixed sinusoids anyway)."""
        return {k: v.detach().cpu().contiguous().clone() for k, v in self.state_dict().items()
                if not k.endswith("embed_positions.weight")}

    def load_saved(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("embed_positions.weight")]
        if missing or unexpected:
            raise RuntimeError(f"saved stage state does not fit the model: missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]}")
