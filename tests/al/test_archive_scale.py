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


def test_mc_dropout_reusing_the_layer_mix_equals_the_whole_head_per_sample():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 3, 12)).astype(np.float32)
    learner = EmbeddingLearner(x, HeadConfig(hidden_dim=16, dropout=0.3), 4, seed=0)
    learner.infer_chunk = 64                      # several chunks
    fast = learner.predict_mc(np.arange(500), 5, seed=3)
    with seeded(3), torch.no_grad():              # the direct way: the whole model, T times
        learner.model.train()
        direct = np.stack([torch.softmax(learner.model(learner.x), -1).numpy() for _ in range(5)], -1)
        learner.model.eval()
    np.testing.assert_allclose(fast, direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(learner.predict_proba(np.arange(500)),
                               torch.softmax(learner.model(learner.x), -1).detach().numpy(), rtol=1e-5, atol=1e-6)
