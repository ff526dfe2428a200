"""Known answers for the loss terms, the span masks and the random-projection quantizer."""
from __future__ import annotations

import math

import numpy as np
import torch

from after.tapt import objectives as obj
from after.tapt.masking import span_mask
from after.tapt.quantizer import RandomProjectionQuantizer, normalise_frames, stack_frames


def test_contrastive_within_utterance_known_answer():
    # two masked frames; context equals its own target: logits diag 1/0.1, off-diagonal 0
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    mask = torch.tensor([[True, True, False]])
    got = obj.contrastive_within_utterance(q.clone(), q, mask, temperature=0.1)
    assert math.isclose(float(got), -math.log(math.exp(10) / (math.exp(10) + 1)), rel_tol=1e-3)
    # swapped context: the true target is the worse one
    swapped = obj.contrastive_within_utterance(q[:, [1, 0, 2]], q, mask, temperature=0.1)
    assert float(swapped) > 9.0


def test_contrastive_distractors_come_from_the_same_utterance_only():
    q = torch.randn(2, 6, 4)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[:, :3] = True
    q2 = q.clone()
    q2[1] = torch.randn(6, 4) * 100    # another clip's frames change: clip 0's terms must not
    only0 = obj.contrastive_within_utterance(q[:1], q[:1], mask[:1], 0.1)
    assert torch.isclose(obj.contrastive_within_utterance(q2[:1], q2[:1], mask[:1], 0.1), only0)


def test_codebook_infonce_uses_only_codes_of_the_clip():
    codebook = torch.eye(4)
    codes = torch.tensor([[0, 1, 0]])
    valid = torch.ones(1, 3, dtype=torch.bool)
    mask = torch.tensor([[True, False, False]])
    # projected context points at code 2, unused in the clip: the softmax runs over codes {0, 1} only
    projected = torch.tensor([[[0.0, 0.0, 1.0, 0.0], [0, 0, 0, 0], [0, 0, 0, 0]]]) + 1e-3
    got = obj.contrastive_over_codebook(projected, codebook, codes, mask, valid, 0.1)
    assert math.isclose(float(got), math.log(2.0), rel_tol=1e-2)


def test_code_cross_entropy_only_counts_masked_frames():
    logits = torch.zeros(1, 3, 5)
    logits[0, 1, 2] = 100.0                  # an unmasked, confidently wrong frame
    codes = torch.tensor([[0, 0, 0]])
    mask = torch.tensor([[True, False, True]])
    assert math.isclose(float(obj.code_cross_entropy(logits, codes, mask)), math.log(5.0), rel_tol=1e-6)


def test_diversity_is_zero_for_uniform_use_and_high_for_one_code():
    uniform = torch.zeros(1, 4, 2, 8)
    mask = torch.ones(1, 4, dtype=torch.bool)
    assert abs(float(obj.codebook_diversity(uniform, mask))) < 1e-5
    peaked = uniform.clone()
    peaked[..., 0] = 50.0
    assert float(obj.codebook_diversity(peaked, mask)) > 0.85


def test_distillation_compares_only_kept_frames():
    s, t = torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2)
    t[0, 0, 2] = 10.0                        # differs only on a frame that is not kept
    keep = torch.tensor([[True, True, False]])
    assert float(obj.hidden_state_distillation(s, t, keep, "mse")) == 0.0
    assert float(obj.hidden_state_distillation(s, t, torch.ones_like(keep), "mse")) > 0.0


def test_span_mask_fraction_padding_and_short_clips():
    rng = np.random.default_rng(0)
    m = span_mask(torch.tensor([200, 100, 3, 1, 0]), 200, 0.15, 10, rng)
    assert 30 <= int(m[0].sum()) <= 40                     # ~15 % of 200
    assert not m[1, 100:].any() and 15 <= int(m[1].sum()) <= 25
    assert 1 <= int(m[2].sum()) <= 2 and not m[2, 3:].any()  # shorter than a span: a short span, no crash
    assert not m[3].any() and not m[4].any()               # one frame or none: nothing to predict it from


def test_span_masks_are_reproducible_per_seed():
    a = span_mask(torch.tensor([50, 40]), 50, 0.15, 5, np.random.default_rng(3))
    b = span_mask(torch.tensor([50, 40]), 50, 0.15, 5, np.random.default_rng(3))
    c = span_mask(torch.tensor([50, 40]), 50, 0.15, 5, np.random.default_rng(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_random_projection_targets_same_for_same_seed():
    feats = torch.randn(2, 80, 60)                         # [B, mels, input frames]
    valid = torch.ones(2, 30, dtype=torch.bool)
    frames = normalise_frames(stack_frames(feats, 2, 30), valid)
    a = RandomProjectionQuantizer(160, 16, 256, seed=7)(frames)
    b = RandomProjectionQuantizer(160, 16, 256, seed=7)(frames)
    c = RandomProjectionQuantizer(160, 16, 256, seed=8)(frames)
    assert a.shape == (2, 30) and torch.equal(a, b)
    assert (a != c).float().mean() > 0.5
    q = RandomProjectionQuantizer(160, 16, 256, seed=7)
    assert torch.allclose(q.codebook.norm(dim=-1), torch.ones(256))
    assert not any(p.requires_grad for p in q.parameters())   # frozen: buffers, never trained


def test_stack_frames_pairs_consecutive_frames():
    feats = torch.arange(2 * 5, dtype=torch.float32).reshape(1, 2, 5)   # 2 features, 5 input frames
    out = stack_frames(feats, 2, 3)                                      # padded to 6 frames
    assert out.shape == (1, 3, 4)
    assert out[0, 0].tolist() == [0.0, 5.0, 1.0, 6.0]       # frame 0 (f0, f1), then frame 1 (f0, f1)
    assert out[0, 2].tolist() == [4.0, 9.0, 0.0, 0.0]


def test_codebook_infonce_is_finite_when_padding_shares_a_code_with_real_frames():
    """Padding frames (code 0 by construction) must not hide a code a real frame uses: a scatter of the
    padding's False over the real frame's True made the true code -inf (loss inf) in the first version."""
    codebook = torch.eye(3)
    codes = torch.tensor([[0, 1] + [0] * 30])                 # frame 0 uses code 0; the rest is padding
    valid = torch.zeros(1, 32, dtype=torch.bool)
    valid[0, :2] = True
    mask = torch.zeros_like(valid)
    mask[0, 0] = True
    got = obj.contrastive_over_codebook(torch.randn(1, 32, 3), codebook, codes, mask, valid, 0.1)
    assert torch.isfinite(got)
