"""Each stage's loss falls when the same batch is trained on repeatedly (tiny HuBERT and Whisper)."""
import numpy as np
import pytest
import torch

from gmpatl_helpers import batch
from after.backbones.registry import load_backbone
from after.training.config import HeadConfig, ModelConfig
from after.training.gmpatl.config import EmotionLossConfig, RetrainConfig
from after.training.gmpatl.loop import make_optimizer
from after.training.gmpatl.model import GMPModel
from after.training.gmpatl.stages import emotion_loss, multitask_loss, retrain_loss
from after.training.learners import seeded


def _model(tiny_dir, with_gender=True):
    with seeded(0):
        return GMPModel(load_backbone(tiny_dir), 2, ModelConfig(backbone=tiny_dir, freeze="none"),
                        HeadConfig(hidden_dim=16, dropout=0.0), with_gender=with_gender)


def _falls(model, loss_fn, steps=15, lr=3e-3):
    opt = make_optimizer(model, lr, lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_multitask_loss_falls(tiny_dir):
    model = _model(tiny_dir)
    waves, y = batch(4)
    yg = torch.tensor([0, 1, -100, 1])        # one clip of unknown gender: left out of the gender loss
    losses = _falls(model, lambda: multitask_loss(model, waves, torch.from_numpy(y), yg, 1.0))
    assert losses[-1] < 0.5 * losses[0]


def test_retrain_loss_falls(tiny_dir):
    model = _model(tiny_dir)
    model.add_frame_heads((4, 8))
    waves, y = batch(4)
    valid = model.backbone.valid_frames(torch.tensor([len(w) for w in waves])).numpy()
    # learnable targets: a clip's frames share ids set by its tone (as k-means on tones would give)
    ids = [np.stack([np.full(n, c), np.full(n, 3 + 2 * c)]) for n, c in zip(valid, y)]
    cfg = RetrainConfig(mask_prob=0.3, mask_span=3)
    yg = torch.tensor([0, 1, 0, 1])
    mask_rng = np.random.default_rng(1)
    losses = _falls(model, lambda: retrain_loss(model, waves, ids, yg, 0.5, cfg, mask_rng), steps=20)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("loss", ["cross_entropy", "am_softmax"])
def test_emotion_loss_falls(tiny_dir, loss):
    model = _model(tiny_dir, with_gender=False)
    cfg = EmotionLossConfig(loss=loss, margin=0.2, scale=10.0)
    if loss == "am_softmax":
        model.use_cosine_head(cfg.scale)
    waves, y = batch(4)
    losses = _falls(model, lambda: emotion_loss(model, waves, torch.from_numpy(y), cfg))
    assert losses[-1] < 0.5 * losses[0]
