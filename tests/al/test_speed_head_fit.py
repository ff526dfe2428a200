"""The head's fast fit (issue 9, archive scale): the fused layer mix and the drawn dropout masks compute
what the module's own forward computes, and a whole fit equals the direct computation with the same draws."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from after.training.config import HeadConfig
from after.training.heads import DropoutMasks, LayerMix, MLPHead
from after.training.learners import EmbeddingLearner, seeded
from after.training.losses import soft_cross_entropy


@pytest.mark.parametrize("mode", ["weighted", "last"])
def test_layer_mix_of_rows_equals_the_mix_of_the_gathered_rows_and_its_gradient(mode):
    torch.manual_seed(0)
    x = torch.randn(50, 4, 6)
    rows = torch.tensor([7, 3, 3, 49, 0, 12])
    mix = LayerMix(4, mode)
    if mix.logits is not None:
        with torch.no_grad():
            mix.logits.copy_(torch.randn(4))
    g = torch.randn(len(rows), 6)
    direct = mix(x[rows])
    fused = mix.rows(x, rows)
    torch.testing.assert_close(fused, direct)
    if mix.logits is not None:
        (grad_direct,) = torch.autograd.grad((direct * g).sum(), mix.logits)
        (grad_fused,) = torch.autograd.grad((mix.rows(x, rows) * g).sum(), mix.logits)
        torch.testing.assert_close(grad_fused, grad_direct)
        assert grad_direct.abs().max() > 1e-3


@pytest.mark.parametrize("hidden", [16, 0])
def test_forward_masked_is_the_train_mode_forward_with_those_masks(hidden):
    torch.manual_seed(1)
    head = MLPHead(12, 3, hidden, dropout=0.25)
    x = torch.randn(9, 12)
    m_in = (torch.rand(9, 12) < 0.75).float() / 0.75
    m_h = (torch.rand(9, max(hidden, 1)) < 0.75).float() / 0.75
    if hidden:
        lin = head.body[1]
        expected = head.out(torch.relu(lin(x * m_in)) * m_h)
    else:
        expected = head.out(x * m_in)
    torch.testing.assert_close(head.forward_masked(x, m_in, m_h if hidden else None), expected)
    head.eval()   # no masks: the eval-mode forward
    torch.testing.assert_close(head.forward_masked(x, None, None), head(x))


def test_dropout_masks_have_the_dropout_distribution_and_a_seeded_stream():
    masks = DropoutMasks(0.2, seed=5, device=torch.device("cpu"))
    m = masks(2000, 300)
    assert torch.unique(m).tolist() == pytest.approx([0.0, 1 / 0.8])
    kept = float((m > 0).float().mean())
    assert abs(kept - 0.8) < 4 * np.sqrt(0.8 * 0.2 / m.numel())     # Bernoulli(1 - p), 4 sigma
    assert abs(float(m.mean()) - 1.0) < 0.01                          # inverted dropout keeps the mean
    again = DropoutMasks(0.2, seed=5, device=torch.device("cpu"))(2000, 300)
    assert torch.equal(m, again)
    assert not torch.equal(masks(2000, 300), m)                       # the stream moves on
    assert DropoutMasks(0.0, seed=5, device=torch.device("cpu"))(4, 4) is None


def _direct_fit(learner: EmbeddingLearner, tr, y_tr, va, y_va, epochs: int) -> list[float]:
    """The fit by hand: gathered rows, the module's layer mix, the same permutations and mask draws."""
    model, cfg = learner.model, learner.cfg
    ytr = torch.nn.functional.one_hot(torch.as_tensor(y_tr), learner.n_classes).float()
    yva = torch.nn.functional.one_hot(torch.as_tensor(y_va), learner.n_classes).float()
    tr, va = torch.as_tensor(tr), torch.as_tensor(va)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    fit_seed = learner.seed * 1_000_003 + 1
    masks = DropoutMasks(cfg.dropout, fit_seed, torch.device("cpu"))
    losses = []
    with seeded(fit_seed):
        for _ in range(epochs):
            model.train()
            perm = torch.randperm(len(tr))
            for start in range(0, len(perm), cfg.batch_size):
                pos = perm[start:start + cfg.batch_size]
                mixed = model.mix(learner.x[tr[pos]])
                logits = model.head.forward_masked(mixed, masks(len(pos), mixed.shape[1]),
                                                   masks(len(pos), model.head.hidden_features))
                loss = soft_cross_entropy(logits, ytr[pos], None)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                losses.append(float(soft_cross_entropy(model(learner.x[va]), yva, None)))
    return losses


def _separable(seed: int, n: int, layers: int, dim: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """[n, layers, dim] features whose mean moves with the class (3 classes): a head learns them every epoch."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, layers, dim)).astype(np.float32)
    y = rng.integers(0, 3, n)
    return x + y[:, None, None].astype(np.float32) * shift, y


def test_the_fast_fit_trains_the_same_head_as_the_direct_computation():
    x, y = _separable(3, 400, 3, 10, 0.5)
    cfg = dataclasses.replace(HeadConfig(hidden_dim=8, batch_size=64), max_epochs=6, patience=100)
    fast = EmbeddingLearner(x, cfg, 3, seed=4)
    direct = EmbeddingLearner(x, cfg, 3, seed=4)
    tr, va = np.arange(0, 300, 2), np.arange(300, 400)
    info = fast.fit(tr, y[tr], va, y[va])
    losses = _direct_fit(direct, tr, y[tr], va, y[va], 6)
    assert losses == sorted(losses, reverse=True)   # every epoch improves: the fit keeps the last weights
    assert info["best_epoch"] == 6
    assert info["best_val_loss"] == pytest.approx(losses[-1], rel=1e-5)
    for (k, a), b in zip(fast.model.state_dict().items(), direct.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)


def test_a_linear_head_draws_no_hidden_mask_and_trains_as_the_direct_computation():
    x, y = _separable(5, 200, 2, 6, 0.7)
    cfg = dataclasses.replace(HeadConfig(hidden_dim=0, batch_size=32), max_epochs=4, patience=100)
    fast, direct = EmbeddingLearner(x, cfg, 3, seed=2), EmbeddingLearner(x, cfg, 3, seed=2)
    assert fast.model.head.hidden_features == 0
    assert DropoutMasks(0.3, 0, torch.device("cpu"))(5, 0) is None
    tr, va = np.arange(150), np.arange(150, 200)
    info = fast.fit(tr, y[tr], va, y[va])
    losses = _direct_fit(direct, tr, y[tr], va, y[va], 4)
    assert losses == sorted(losses, reverse=True) and info["best_epoch"] == 4
    assert info["best_val_loss"] == pytest.approx(losses[-1], rel=1e-5)
    for (k, a), b in zip(fast.model.state_dict().items(), direct.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)


def test_features_in_fortran_order_are_kept_in_c_order_so_the_fused_mix_views_them():
    rng = np.random.default_rng(6)
    x = np.asfortranarray(rng.normal(size=(40, 3, 5)).astype(np.float32))
    learner = EmbeddingLearner(x, HeadConfig(hidden_dim=4), 2, seed=0)
    assert learner.x.is_contiguous()
    np.testing.assert_allclose(learner.predict_proba(np.arange(40)),
                               torch.softmax(learner.model(learner.x), -1).detach().numpy(), rtol=1e-5, atol=1e-6)
