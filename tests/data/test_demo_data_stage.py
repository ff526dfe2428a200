"""`make demo` = `after run configs/demo.yaml -o runs/demo`: the config plans AFTER against FT + Random on the
shared inputs, and without them the demo says what it needs, where to get it and which keys to set."""
from __future__ import annotations

from pathlib import Path

from after import demo
from after.config import load_config
from after.experiments.grid import GridConfig, plan_cells


def test_demo_without_shared_inputs_says_what_where_and_which_keys(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(demo, "SHARED_RAVDESS", tmp_path / "absent" / "ravdess")
    monkeypatch.setattr(demo, "SHARED_MODEL", tmp_path / "absent" / "whisper-tiny.en")
    assert demo.main(run_dir=tmp_path / "run") == 0
    out = capsys.readouterr().out.replace("\n", " ")
    for needed in ("zenodo.org/records/1188976", "openai/whisper-tiny.en", "data.corpora", "learner.backbone",
                   "demo_al.yaml", str(tmp_path / "absent" / "ravdess")):
        assert needed in out
    assert not (tmp_path / "run").exists()


def test_only_the_missing_input_is_named(tmp_path: Path):
    (tmp_path / "ravdess").mkdir()
    needs = demo.missing_inputs(tmp_path / "ravdess", tmp_path / "no_model")
    assert len(needs) == 1 and "whisper-tiny.en" in needs[0] and "zenodo" not in needs[0]


def test_demo_config_plans_after_against_ft_random_on_the_shared_inputs(tmp_path: Path):
    cfg = load_config(GridConfig, demo.CONFIG)
    cells = plan_cells(cfg, demo.CONFIG, tmp_path, tapt_ready=True)
    assert {(c["method"], c["strategy"], c["init"], c["tapt"]) for c in cells} == {
        ("FT+Random", "random", "kmeans", False), ("AFTER", "entropy", "kmeans", True)}
    assert cfg.tapt.given and (demo.CONFIG.parent / cfg.tapt.config).is_file()
    al = (demo.CONFIG.parent / cfg.al_config).read_text()
    # the config names the same shared paths the demo checks, relative to configs/
    assert "ravdess=../../shared/data/ravdess" in al and "../../shared/models/whisper-tiny.en" in al
    assert (demo.CONFIG.parent / "../../shared/models/whisper-tiny.en").resolve() == demo.SHARED_MODEL.resolve()
