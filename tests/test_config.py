"""Configuration as data: YAML + --set overrides into frozen dataclasses, with errors that name the key."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from after.config import ConfigError, load_config, parse_overrides, resolve_path, save_config


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    layers: Literal["weighted", "last"] = "weighted"


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    rounds: int = 5
    seeds: tuple[int, ...] = (0,)
    schedule: tuple[float, ...] = ()
    maybe: str | None = None
    inner: Inner = field(default_factory=Inner)


def test_file_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("rounds: 3\ninner:\n  lr: 3e-4\nseeds: [1, 2]\n")
    cfg = load_config(Outer, f, ["inner.layers=last", "name=run", "schedule=[0.05,0.1]"])
    assert cfg == Outer(name="run", rounds=3, seeds=(1, 2), schedule=(0.05, 0.1),
                        inner=Inner(lr=3e-4, layers="last"))
    assert load_config(Outer, None, ["inner.lr=2e-5"]).inner.lr == pytest.approx(2e-5)   # YAML 1.1 string


@pytest.mark.parametrize("override,match", [
    (["round=3"], "unknown key.*round"),
    (["inner.lrr=1"], "unknown key.*inner.lrr"),
    (["rounds=three"], "rounds: expected an integer"),
    (["rounds=2.5"], "rounds: expected an integer"),
    (["inner.layers=first"], "inner.layers.*not one of"),
    (["inner.lr=fast"], "inner.lr: expected a number"),
    (["rounds"], "expected key=value"),
])
def test_bad_values_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(Outer, None, override)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Outer, tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Outer, bad)


def test_saved_config_loads_back_equal(tmp_path):
    cfg = load_config(Outer, None, ["maybe=yes", "seeds=[3]", "inner.lr=0.5"])
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(Outer, tmp_path / "saved.yaml") == cfg


def test_paths_resolve_against_the_config_folder(tmp_path):
    cfg = tmp_path / "configs" / "a.yaml"
    assert resolve_path("../data/x.csv", cfg) == tmp_path / "configs" / ".." / "data" / "x.csv"
    assert resolve_path("/abs/x.csv", cfg).as_posix() == "/abs/x.csv"
    assert parse_overrides(["a.b=1", "a.c=x"]) == {"a": {"b": 1, "c": "x"}}


def test_a_null_string_field_says_how_to_leave_it_empty():
    from after.experiments.active import ALConfig
    with pytest.raises(ConfigError, match=r"stratify_by: expected a string, got null; .*--set stratify_by="):
        load_config(ALConfig, None, ["stratify_by=null"])
    assert load_config(ALConfig, None, ["stratify_by="]).stratify_by == ""
