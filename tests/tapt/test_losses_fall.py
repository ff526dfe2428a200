"""Each term of Eq. 3 falls when trained alone on a repeated batch, for tiny wav2vec2, HuBERT and Whisper."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from after.backbones import load_backbone
from after.tapt.config import ObjectiveConfig, TaptConfig
from after.tapt.model import TaptModel

TERMS = {"wav2vec2": ("contrastive", "reconstruction", "diversity"),
         "hubert": ("contrastive", "reconstruction"), "whisper": ("contrastive", "reconstruction")}
CASES = [(k, t) for k, ts in TERMS.items() for t in ts]


def batch(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        t = np.arange(int((0.5 + 0.2 * i) * 16_000)) / 16_000
        out.append((0.3 * np.sin(2 * np.pi * 300 * (i + 1) * t) + 0.05 * rng.normal(size=t.size)).astype(np.float32))
    return out


def only(term: str, **extra) -> ObjectiveConfig:
    weights = {k: 0.0 for k in ("contrastive", "reconstruction", "diversity", "distillation")}
    weights[term] = 1.0
    return ObjectiveConfig(**{**weights, **extra})


def train(model: TaptModel, waves, term: str, steps: int = 25, lr: float = 2e-3) -> list[float]:
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    values = []
    for _ in range(steps):
        total, terms = model.loss(waves, step_seed=11)     # same batch, same masks, every step
        assert set(terms) == {term}
        values.append(float(terms[term].detach()))
        opt.zero_grad()
        total.backward()
        opt.step()
    return values


@pytest.mark.parametrize("kind,term", CASES)
def test_each_term_falls_on_a_repeated_batch(tiny_dirs, kind, term):
    torch.manual_seed(0)
    model = TaptModel(load_backbone(tiny_dirs[kind]), TaptConfig(objective=only(term)))
    values = train(model, batch(), term)
    assert np.isfinite(values).all()
    assert values[-1] < 0.8 * values[0], f"{kind} {term}: {values[0]:.4f} -> {values[-1]:.4f}"


@pytest.mark.parametrize("kind", ["hubert", "whisper"])
def test_distillation_pulls_a_drifted_encoder_back(tiny_dirs, kind):
    torch.manual_seed(0)
    model = TaptModel(load_backbone(tiny_dirs[kind]), TaptConfig(objective=only("distillation")))
    with torch.no_grad():                        # drift the student away from the frozen original
        for p in model.backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict().items() if "embed_positions" not in k}
    values = train(model, batch(), "distillation", lr=1e-3)
    assert values[-1] < 0.7 * values[0], f"{values[0]:.4f} -> {values[-1]:.4f}"
    after = model.teacher.state_dict()       # (Whisper's position table is cropped per batch: not compared)
    assert all(torch.equal(v, after[k]) for k, v in teacher_before.items())   # the original stays frozen


def test_wav2vec2_targets_are_the_quantizer_codes_of_the_clean_features(tiny_dirs):
    """Eq. 2 for wav2vec 2.0 predicts the quantizer's code of the *unmasked* feature-encoder output."""
    torch.manual_seed(0)
    model = TaptModel(load_backbone(tiny_dirs["wav2vec2"]), TaptConfig(objective=only("reconstruction")))
    model.eval()
    fwd = model.masked_forward(batch(), np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert fwd.masked.any() and fwd.extract_features is not None
    with torch.no_grad():
        clean = model.backbone.model.feature_extractor(
            torch.nn.utils.rnn.pad_sequence([torch.tensor(w) for w in batch()], batch_first=True))
    assert clean.shape[-1] == fwd.extract_features.shape[1]     # the same frames the context vectors have


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert", "whisper"])
def test_a_batch_of_clips_shorter_than_one_frame_gives_a_zero_loss_not_a_crash(tiny_dirs, kind):
    """40 samples (2.5 ms) is shorter than the tiny feature encoder's receptive field (60 samples): the
    convolutions refused such a batch before it was padded to one frame."""
    torch.manual_seed(0)
    model = TaptModel(load_backbone(tiny_dirs[kind]), TaptConfig())
    total, terms = model.loss([np.full(40, 0.01, dtype=np.float32)], step_seed=1)
    assert float(total.detach()) == 0.0 and terms          # nothing masked: no term contributes
    total.backward()                                       # and a step on it is harmless


@pytest.mark.parametrize("kind", ["hubert", "whisper"])
def test_kmeans_unit_targets_fall_and_come_from_the_frozen_original(tiny_dirs, kind):
    """HuBERT's way: k-means units of the frozen original's middle layer; both terms fall together."""
    torch.manual_seed(0)
    cfg = TaptConfig(objective=ObjectiveConfig(targets="kmeans", kmeans_units=8, distillation=0.0))
    model = TaptModel(load_backbone(tiny_dirs[kind]), cfg)
    assert model.needs_units
    model.fit_units([batch()])
    assert not model.needs_units and model.centroids.abs().sum() > 0
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    first = None
    for _ in range(25):
        total, terms = model.loss(batch(), step_seed=11)
        first = first or {k: float(v.detach()) for k, v in terms.items()}
        opt.zero_grad()
        total.backward()
        opt.step()
    last = {k: float(v.detach()) for k, v in model.loss(batch(), step_seed=11)[1].items()}
    assert set(last) == {"reconstruction", "contrastive"}
    assert all(last[k] < 0.8 * first[k] for k in last), (first, last)
    refit = TaptModel(load_backbone(tiny_dirs[kind]), cfg)
    refit.fit_units([batch()])
    assert torch.equal(refit.centroids, model.centroids)        # the units are frozen, the seed fixes them
