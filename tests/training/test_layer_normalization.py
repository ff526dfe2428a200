"""model.normalize_layers: the layer mix sees every hidden state at the same scale."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
from tiny_encoders import make_tiny, tones  # noqa: E402

from after.backbones import load_backbone  # noqa: E402
from after.backbones.base import BackboneOutput  # noqa: E402
from after.training.config import HeadConfig, ModelConfig  # noqa: E402
from after.training.model import SERModel  # noqa: E402


def _penultimate_with_layer0_scaled(folder, normalize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = SERModel(load_backbone(folder), 2, ModelConfig(freeze="encoder", normalize_layers=normalize),
                     HeadConfig(hidden_dim=8, dropout=0.0)).eval()
    waves, _ = tones(2)
    with torch.no_grad():
        plain = model.penultimate(waves)
        out = model.backbone(waves)
        scale = torch.ones(out.hidden_states.shape[0])
        scale[0] = 100.0                                  # one layer 100x louder than the others
        loud = BackboneOutput(out.hidden_states * scale[:, None, None, None], out.mask)
        model.backbone.forward = lambda w: loud
        return plain, model.penultimate(waves)


def test_normalised_mix_ignores_a_layers_scale(tmp_path):
    folder = make_tiny("whisper", tmp_path / "w")
    plain, loud = _penultimate_with_layer0_scaled(folder, normalize=True)
    torch.testing.assert_close(plain, loud, atol=1e-4, rtol=1e-4)
    plain, loud = _penultimate_with_layer0_scaled(folder, normalize=False)
    assert not torch.allclose(plain, loud, atol=1e-2)    # without it, the loud layer takes over
