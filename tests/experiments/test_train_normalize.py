"""`after train` with head.normalize: the frozen learner gets each row's speaker / corpus (never its label),
and a fine-tuning config refuses the option."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_train import corpus  # noqa: E402,F401  (the tones corpus fixture)

from after.config import ConfigError  # noqa: E402
from after.data.sources import DataConfig  # noqa: E402
from after.training.config import HeadConfig, ModelConfig  # noqa: E402


def _cfg(corpus, normalize, **model):  # noqa: F811
    from after.experiments.train import ExperimentConfig
    return ExperimentConfig(data=DataConfig(manifest=str(corpus / "manifest.csv"), folds=str(corpus / "folds.csv")),
                            model=ModelConfig(**{"backbone": "logmel", **model}),
                            head=HeadConfig(hidden_dim=16, max_epochs=20, patience=5, normalize=normalize),
                            cache_dir=str(corpus / "cache"), final_model=False)


def test_speaker_normalisation_reaches_the_learner(corpus, monkeypatch):  # noqa: F811
    from after.experiments import train
    from after.training import learners
    seen = []
    real = learners.EmbeddingLearner.__init__

    def spy(self, features, cfg, n_classes, seed=0, norm_idx=None, device="cpu", norm_groups=None):
        seen.append((cfg.normalize, None if norm_groups is None else list(norm_groups)))
        real(self, features, cfg, n_classes, seed, norm_idx, device, norm_groups)
        # every speaker's rows have zero mean: the statistics are the speaker's own
        x, groups = self.x.numpy(), np.asarray(norm_groups)
        for g in np.unique(groups):
            np.testing.assert_allclose(x[groups == g].mean(0), 0, atol=1e-4)

    monkeypatch.setattr(learners.EmbeddingLearner, "__init__", spy)
    train.run_experiment(_cfg(corpus, "speaker"), corpus / "run_spk")
    assert seen and all(mode == "speaker" for mode, _ in seen)
    assert sorted(set(seen[0][1])) == ["toy/s0", "toy/s1", "toy/s2", "toy/s3"]
    # (no accuracy bound: on these tones each speaker's class mix differs, and per-speaker centring then
    # moves the classes by different offsets per speaker; see README, "normalize")


def test_fine_tuning_refuses_group_normalisation(corpus, tmp_path):  # noqa: F811
    from after.experiments.train import run_experiment
    with pytest.raises(ConfigError, match="head.normalize"):
        run_experiment(_cfg(corpus, "corpus", backbone=str(tmp_path / "none"), freeze="none"), corpus / "run_ft")
