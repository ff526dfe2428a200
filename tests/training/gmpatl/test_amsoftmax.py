"""AM-Softmax against values worked out by hand."""
import math

import pytest
import torch
import torch.nn.functional as F

from after.training.gmpatl.amsoftmax import CosineLinear, am_softmax_loss


def test_known_answer():
    cos = torch.tensor([[0.5, 0.1], [0.5, 0.1]])
    # target 0: logits s(cos - m) = [10 * 0.3, 10 * 0.1] = [3, 1] -> log(1 + e^-2)
    assert float(am_softmax_loss(cos[:1], torch.tensor([0]), 0.2, 10.0)) == pytest.approx(math.log1p(math.exp(-2)), abs=1e-6)
    # target 1: logits [5, 10 * (0.1 - 0.2)] = [5, -1] -> log(1 + e^6)
    assert float(am_softmax_loss(cos[:1], torch.tensor([1]), 0.2, 10.0)) == pytest.approx(math.log1p(math.exp(6)), abs=1e-5)
    mean = am_softmax_loss(cos, torch.tensor([0, 1]), 0.2, 10.0)
    assert float(mean) == pytest.approx((math.log1p(math.exp(-2)) + math.log1p(math.exp(6))) / 2, abs=1e-5)


def test_zero_margin_is_scaled_softmax_and_margin_raises_the_loss():
    cos = torch.tensor([[0.9, -0.2, 0.3]])
    y = torch.tensor([2])
    assert torch.allclose(am_softmax_loss(cos, y, 0.0, 30.0), F.cross_entropy(30.0 * cos, y))
    assert am_softmax_loss(cos, y, 0.35, 30.0) > am_softmax_loss(cos, y, 0.0, 30.0)


def test_cosine_linear_gives_scaled_cosines():
    layer = CosineLinear(2, 2, scale=5.0)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    x = torch.tensor([[3.0, 4.0]])
    assert torch.allclose(layer.cosines(x), torch.tensor([[0.6, 0.8]]))
    assert torch.allclose(layer(x), torch.tensor([[3.0, 4.0]]))
