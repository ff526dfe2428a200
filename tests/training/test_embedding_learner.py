import numpy as np
import pytest
import torch

from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner, Learner
from after.training.losses import soft_cross_entropy


def _blobs(n=600, n_layers=3, dim=16, n_classes=4, seed=0):
    """Classes separable in layer 1 only; layers 0 and 2 are noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    x = rng.normal(size=(n, n_layers, dim)).astype(np.float32)
    centers = rng.normal(scale=3.0, size=(n_classes, dim))
    x[:, 1] += centers[y]
    return x, y


def _split(n):
    idx = np.arange(n)
    return idx[: n // 2], idx[n // 2: 3 * n // 4], idx[3 * n // 4:]


def test_learns_and_satisfies_protocol():
    x, y = _blobs()
    tr, va, te = _split(len(y))
    lr = EmbeddingLearner(x, HeadConfig(), n_classes=4, seed=0)
    assert isinstance(lr, Learner)
    before = (lr.predict_proba(te).argmax(1) == y[te]).mean()
    out = lr.fit(tr, y[tr], va, y[va])
    acc = (lr.predict_proba(te).argmax(1) == y[te]).mean()
    assert acc > 0.9 and acc > before + 0.3
    assert {"epochs", "best_val_loss", "seconds"} <= set(out)
    # the learned layer weights favour the informative layer
    w = torch.softmax(lr.model.mix.logits, 0).detach().numpy()
    assert w.argmax() == 1


def test_shapes_and_probabilities():
    x, y = _blobs(n=120)
    lr = EmbeddingLearner(x, HeadConfig(hidden_dim=32), n_classes=4, seed=1)
    lr.fit(np.arange(60), y[:60], np.arange(60, 90), y[60:90])
    idx = np.arange(90, 120)
    p = lr.predict_proba(idx)
    assert p.shape == (30, 4) and np.allclose(p.sum(1), 1, atol=1e-5)
    mc = lr.predict_mc(idx, n_samples=5, seed=0)
    assert mc.shape == (30, 4, 5) and np.allclose(mc.sum(1), 1, atol=1e-5)
    assert not np.allclose(mc[..., 0], mc[..., 1])            # dropout really is on
    np.testing.assert_array_equal(mc, lr.predict_mc(idx, 5, seed=0))   # and seeded
    np.testing.assert_array_equal(p, lr.predict_proba(idx))   # eval mode again afterwards
    assert lr.embed(idx).shape == (30, 32)
    assert lr.grad_embed(idx).shape == (30, 32 * 4)


def test_grad_embed_matches_autograd():
    x, y = _blobs(n=40)
    lr = EmbeddingLearner(x, HeadConfig(hidden_dim=8), n_classes=4, seed=0)
    lr.fit(np.arange(20), y[:20], np.arange(20, 30), y[20:30])
    g = lr.grad_embed(np.arange(30, 32))
    out = lr.model.head.out
    for row, i in enumerate((30, 31)):
        h = lr.model.penultimate(lr.x[i:i + 1]).detach()
        logits = out(h)
        loss = torch.nn.functional.cross_entropy(logits, logits.argmax(-1))
        (grad_w,) = torch.autograd.grad(loss, out.weight)
        np.testing.assert_allclose(g[row], grad_w.flatten().numpy(), rtol=1e-4, atol=1e-6)


def test_reset_and_determinism():
    x, y = _blobs(n=200)
    tr, va, te = _split(200)
    a = EmbeddingLearner(x, HeadConfig(), 4, seed=3)
    b = EmbeddingLearner(x, HeadConfig(), 4, seed=3)
    p0 = a.predict_proba(te)
    a.fit(tr, y[tr], va, y[va])
    b.fit(tr, y[tr], va, y[va])
    np.testing.assert_allclose(a.predict_proba(te), b.predict_proba(te), atol=1e-6)
    a.reset()
    np.testing.assert_allclose(a.predict_proba(te), p0, atol=1e-7)
    c = EmbeddingLearner(x, HeadConfig(), 4, seed=4)
    assert not np.allclose(c.predict_proba(te), p0)


def test_soft_labels_accepted_and_equivalent_to_one_hot():
    x, y = _blobs(n=200)
    tr, va, te = _split(200)
    a = EmbeddingLearner(x, HeadConfig(), 4, seed=0)
    b = EmbeddingLearner(x, HeadConfig(), 4, seed=0)
    a.fit(tr, y[tr], va, y[va])
    b.fit(tr, np.eye(4)[y[tr]], va, np.eye(4)[y[va]])
    np.testing.assert_allclose(a.predict_proba(te), b.predict_proba(te), atol=1e-6)
    soft = np.full((len(tr), 4), 0.25)
    b.fit(tr, soft, va, np.eye(4)[y[va]])   # a uniform target just runs
    with pytest.raises(ValueError, match="sum to 1"):
        b.fit(tr, soft * 2, va, y[va])


def test_soft_cross_entropy_matches_torch_weighted_ce():
    logits = torch.randn(10, 3)
    y = torch.randint(0, 3, (10,))
    w = torch.tensor([0.5, 2.0, 1.0])
    ref = torch.nn.functional.cross_entropy(logits, y, weight=w)
    got = soft_cross_entropy(logits, torch.nn.functional.one_hot(y, 3).float(), w)
    assert torch.allclose(ref, got)
