"""The demo's data stage: prepare once, folds written once and read back, clear message without data."""
from __future__ import annotations

from pathlib import Path

from after import demo


def test_demo_data_stage_reuses_its_folds(shared_data: Path, tmp_path: Path):
    manifest = demo.prepare_data(tmp_path, shared_data / "ravdess")
    folds = demo.make_folds(manifest, tmp_path)
    assert len(manifest) == 1440 and len(folds) == demo.N_FOLDS
    assert (tmp_path / "folds.csv").is_file()
    lines = (tmp_path / "folds.csv").read_text().splitlines()
    # Drop one row: a rerun must read the stored folds back, not silently recompute them.
    (tmp_path / "folds.csv").write_text("\n".join(lines[:-1]) + "\n")
    again = demo.make_folds(manifest, tmp_path)
    assert sum(len(f.train) + len(f.val) + len(f.test) for f in again) == len(lines) - 2


def test_demo_without_shared_data_says_so(tmp_path: Path, capsys):
    assert demo.main(run_dir=tmp_path / "run", corpus_root=tmp_path / "absent") == 0
    assert "absent; skipping" in capsys.readouterr().out
    assert not (tmp_path / "run").exists()
