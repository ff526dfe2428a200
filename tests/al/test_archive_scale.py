"""The fast paths of issue 9 (archive scale) give the same answers as the direct computations."""
from __future__ import annotations

import numpy as np
import torch

from after.al.base import PoolView
from after.al.loop import badge_residuals
from after.al.strategies import BADGE, CoreSet, squared_distances
from after.training.config import HeadConfig
from after.training.heads import badge_gradients
from after.training.learners import EmbeddingLearner, seeded


def test_badge_on_factors_picks_exactly_what_it_picks_on_gradient_embeddings():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(300, 16))
    logits = rng.normal(size=(300, 4)) * 2
    g = badge_gradients(torch.from_numpy(h), torch.from_numpy(logits)).numpy()
    for seed in range(5):
        full = BADGE().select(PoolView(grad_embeddings=g), 25, np.random.default_rng(seed))
        fact = BADGE().select(PoolView(penultimate=h, residuals=badge_residuals(logits)), 25,
                              np.random.default_rng(seed))
        assert fact.indices.tolist() == full.indices.tolist()
        np.testing.assert_allclose(fact.scores, full.scores, rtol=1e-6)


def _coreset_brute(x, lab, k):
    chosen = []
    for _ in range(k):
        centres = np.vstack([lab, x[chosen]]) if chosen else lab
        d = squared_distances(x, centres).min(axis=1)
        d[chosen] = -np.inf
        chosen.append(int(np.argmax(d)))
    return chosen


def test_incremental_coreset_is_the_greedy_k_center():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    lab = rng.normal(size=(30, 8)).astype(np.float32)
    sel = CoreSet().select(PoolView(embeddings=x, labelled_embeddings=lab), 40, np.random.default_rng(0))
    assert sel.indices.tolist() == _coreset_brute(x.astype(np.float64), lab.astype(np.float64), 40)


def test_mc_dropout_masks_are_consistent_across_clips_and_reuse_the_layer_mix():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 3, 12)).astype(np.float32)
    x[250:] = x[:250]                              # every clip twice
    learner = EmbeddingLearner(x, HeadConfig(hidden_dim=16, dropout=0.3), 4, seed=0)
    learner.infer_chunk = 64                       # several chunks
    mc = learner.predict_mc(np.arange(500), 5, seed=3)
    np.testing.assert_allclose(mc[:250], mc[250:], rtol=1e-5, atol=1e-6)   # sample t = one weight draw
    assert np.abs(mc[:, :, 0] - mc[:, :, 1]).max() > 1e-3                   # and the draws differ
    # sample t by hand: the whole model with input/hidden units dropped by the same masks for every clip
    gen = torch.Generator().manual_seed(3)
    head = learner.model.head
    keep_out = (torch.rand((5, 1, 16), generator=gen) >= 0.3).float()
    keep_in = (torch.rand((5, 1, 12), generator=gen) >= 0.3).float()
    with torch.no_grad():
        mixed = learner.model.mix(learner.x)
        for t in range(5):
            h = torch.relu(head.body[1](mixed * keep_in[t] / 0.7))
            p = torch.softmax(head.out(h * keep_out[t] / 0.7), -1).numpy()
            np.testing.assert_allclose(mc[:, :, t], p, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(learner.predict_proba(np.arange(500)),
                               torch.softmax(learner.model(learner.x), -1).detach().numpy(), rtol=1e-5, atol=1e-6)
