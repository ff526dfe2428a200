"""Config values are range-checked where they are read, naming the key (issue 7)."""
from __future__ import annotations

import pytest

from after.config import ConfigError, load_config
from after.experiments.active import ALConfig
from after.experiments.train import ExperimentConfig


@pytest.mark.parametrize("override,key", [
    ("head.max_epochs=-5", "head.max_epochs: -5"), ("head.patience=-1", "head.patience: -1"),
    ("head.lr=0", "head.lr: 0"), ("head.dropout=1.0", "head.dropout: 1.0"), ("train.lr=-1e-4", "train.lr: -0.0001"),
    ("train.max_epochs=0", "train.max_epochs: 0"), ("data.val_fraction=1.5", "data.val_fraction: 1.5"),
    ("data.n_folds=1", "data.n_folds: 1"), ("seeds=[]", "seeds: []"), ("seeds=[-1]", "seeds: [-1]"),
    ("max_folds=-2", "max_folds: -2"),
])
def test_experiment_config_ranges(override, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_config(ExperimentConfig, None, [override])


@pytest.mark.parametrize("override,key", [
    ("rounds=0", "rounds: 0"), ("budget=-0.2", "budget: -0.2"), ("budget=0", "budget: 0"),
    ("budget=2.5", "budget: 2.5"), ("init_fraction=0", "init_fraction: 0"), ("schedule=[0.1,1.5]", "schedule"),
    ("max_pool=-1", "max_pool: -1"), ("mc_samples=0", "mc_samples: 0"), ("seed=-3", "seed: -3"),
    ("learner.head.max_epochs=-5", "learner.head.max_epochs: -5"), ("learner.init_layer=-1", "learner.init_layer"),
])
def test_al_config_ranges(override, key):
    with pytest.raises(ConfigError, match=key):
        load_config(ALConfig, None, [override])


def test_values_in_range_load():
    cfg = load_config(ALConfig, None, ["budget=150", "rounds=3", "init_fraction=1", "learner.head.patience=0"])
    assert cfg.budget == 150 and cfg.learner.head.patience == 0
    assert load_config(ExperimentConfig, None, ["data.val_fraction=0", "seeds=[0,1]"]).seeds == (0, 1)


def test_the_file_is_named(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("head:\n  max_epochs: -5\n")
    with pytest.raises(ConfigError, match=f"{path}: head.max_epochs: -5 must be >= 1"):
        load_config(ExperimentConfig, path)
