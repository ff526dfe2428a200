"""MC dropout at archive scale: sample t's hidden layer as the full product minus the dropped columns' share
(or the kept columns alone) equals the model run by hand with sample t's masks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner


@pytest.mark.parametrize("hidden,dropout", [(16, 0.1), (16, 0.7), (0, 0.4)])
def test_mc_dropout_equals_the_model_run_with_each_samples_masks(hidden, dropout):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 3, 12)).astype(np.float32)
    learner = EmbeddingLearner(x, HeadConfig(hidden_dim=hidden, dropout=dropout), 4, seed=1)
    learner.infer_chunk = 128
    rows = rng.permutation(300)[:250]
    mc = learner.predict_mc(rows, 6, seed=9)
    gen = torch.Generator().manual_seed(9)
    head = learner.model.head
    width_out = hidden if hidden else 12
    keep_out = (torch.rand((6, 1, width_out), generator=gen) >= dropout).float()
    keep_in = (torch.rand((6, 1, 12), generator=gen) >= dropout).float() if hidden else None
    with torch.no_grad():
        mixed = learner.model.mix(learner.x[torch.as_tensor(rows)])
        for t in range(6):
            h = torch.relu(head.body[1](mixed * keep_in[t] / (1 - dropout))) if hidden else mixed
            p = torch.softmax(head.out(h * keep_out[t] / (1 - dropout)), -1).numpy()
            np.testing.assert_allclose(mc[:, :, t], p, rtol=1e-4, atol=1e-5)
    assert np.abs(mc[:, :, 0] - mc[:, :, 1]).max() > 1e-3
