"""The masking hook replaces exactly the chosen input frames, for Whisper and the wav2vec2 family."""
import numpy as np
import torch

from gmpatl_helpers import batch
from after.backbones.registry import load_backbone
from after.training.gmpatl.masking import masked_input_frames


def test_hook_changes_only_the_masked_frames(tiny_dir):
    bb = load_backbone(tiny_dir)
    waves, _ = batch(2)
    waves = [waves[0][:8000], waves[1][:8000]]                  # equal lengths: no padding effects
    with torch.no_grad():
        plain = bb(waves).hidden_states
        T = plain.shape[2]
        none = np.zeros((2, T), dtype=bool)
        with masked_input_frames(bb, torch.zeros(bb.hidden_size), none):
            same = bb(waves).hidden_states
        mask = none.copy()
        mask[0, 3:6] = True
        with masked_input_frames(bb, torch.full((bb.hidden_size,), 5.0), mask):
            masked = bb(waves).hidden_states
        after_hook = bb(waves).hidden_states                     # the hook is gone after the block
    assert torch.allclose(plain, same) and torch.allclose(plain, after_hook)
    assert not torch.allclose(masked[-1, 0, 3:6], plain[-1, 0, 3:6])
    assert torch.allclose(masked[:, 1], plain[:, 1], atol=1e-5)  # the other clip is untouched
