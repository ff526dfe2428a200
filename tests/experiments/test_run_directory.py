"""`after train`'s run directory: one process at a time, refused when its inputs changed, and the CLI's
one-line errors for the mistakes and system failures a user meets (issue 7)."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_train import corpus  # noqa: E402,F401  (the fixture: 32 tone clips, 4 speakers, 2 folds)

import after  # noqa: E402
from after.cli import main  # noqa: E402
from after.data.folds import Fold, read_folds, write_folds  # noqa: E402
from after.data.manifest import read_manifest  # noqa: E402
from after.data.splits import split_by_group  # noqa: E402

SRC = str(Path(after.__file__).resolve().parents[1])


def _exp(corpus: Path, name: str = "exp.yaml", **over) -> Path:
    cfg = {"data": {"manifest": "manifest.csv", "folds": "folds.csv"}, "model": {"backbone": "logmel"},
           "head": {"hidden_dim": 16}, "seeds": [0], "cache_dir": "cache", **over}
    path = corpus / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hold_and_stop(cmd: list[str], run: Path) -> subprocess.Popen:
    """Start ``after`` in a child process and freeze it (SIGSTOP) as soon as it holds the run directory's lock."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "after.cli", *cmd], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    lock = run / ".lock"
    while time.time() < deadline:
        if lock.is_file() and f"pid {proc.pid} " in lock.read_text():
            proc.send_signal(signal.SIGSTOP)
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.kill()
    raise AssertionError(f"the child never took the lock: {proc.stderr.read().decode()[-2000:]}")


def release(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGCONT)
    proc.wait(timeout=300)
    return proc.returncode


@pytest.mark.parametrize("second", ["same config", "another config"])
def test_two_train_processes_on_one_run_directory(corpus, capsys, second):
    config = _exp(corpus)
    other = _exp(corpus, "other.yaml", head={"hidden_dim": 16, "dropout": 0.4})
    assert main(["train", str(config), "-o", str(corpus / "ref")]) == 0
    run = corpus / "run"
    first = hold_and_stop(["train", str(config), "-o", str(run)], run)
    try:
        before = _snapshot(run)
        capsys.readouterr()
        rc = main(["train", str(config if second == "same config" else other), "-o", str(run)])
        err = capsys.readouterr().err
        assert rc == 2 and f"is in use by pid {first.pid}" in err and len(err.strip().splitlines()) == 1
        assert _snapshot(run) == before                     # the refused process wrote nothing
    finally:
        assert release(first) == 0
    # the run holds the first process's results only: the same as an undisturbed run of its config
    assert yaml.safe_load((run / "config.yaml").read_text())["head"]["dropout"] == 0.2
    ref = json.loads((corpus / "ref" / "metrics.json").read_text())
    got = json.loads((run / "metrics.json").read_text())
    assert [f["ua"] for f in got["folds"]] == [f["ua"] for f in ref["folds"]]
    assert (run / "predictions.csv").read_text() == (corpus / "ref" / "predictions.csv").read_text()


def test_folds_re_split_in_place_are_refused_naming_the_file(corpus, capsys):
    config = _exp(corpus)
    run = corpus / "run"
    assert main(["train", str(config), "-o", str(run)]) == 0
    records = _snapshot(run / "folds")
    manifest = read_manifest(corpus / "manifest.csv")
    write_folds(split_by_group(manifest, "speaker", 2, 0.25, seed=7), corpus / "folds.csv")   # same path
    capsys.readouterr()
    assert main(["train", str(config), "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert "folds file" in err and str(corpus / "folds.csv") in err and "changed" in err
    assert _snapshot(run / "folds") == records                 # the old results are left alone
    # a new run directory takes the new folds
    assert main(["train", str(config), "-o", str(corpus / "run2")]) == 0


def test_another_config_is_refused_naming_the_key(corpus, capsys):
    config = _exp(corpus)
    run = corpus / "run"
    assert main(["train", str(config), "-o", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", str(config), "-o", str(run), "--set", "head.lr=0.01"]) == 2
    assert "head.lr (0.001 -> 0.01)" in capsys.readouterr().err
    # the cache location is not part of what the results depend on
    assert main(["train", str(config), "-o", str(run), "--set", f"cache_dir={corpus / 'cache2'}"]) == 0


def test_a_damaged_fold_record_is_named(corpus, capsys):
    config = _exp(corpus)
    run = corpus / "run"
    assert main(["train", str(config), "-o", str(run)]) == 0
    record = run / "folds" / "fold1_seed0.json"
    record.write_text(record.read_text()[:100])
    capsys.readouterr()
    assert main(["train", str(config), "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(record) in err and "Delete it" in err
    record.unlink()                                           # what the message says to do
    assert main(["train", str(config), "-o", str(run)]) == 0


def test_negative_max_epochs_is_refused_before_any_audio_is_embedded(corpus, capsys):
    config = _exp(corpus)
    assert main(["train", str(config), "-o", str(corpus / "run"), "--set", "head.max_epochs=-5"]) == 2
    err = capsys.readouterr().err
    assert "head.max_epochs: -5 must be >= 1" in err and str(config) in err
    assert not (corpus / "cache").exists() and not (corpus / "run").exists()


def test_folds_that_do_not_fit_the_manifest_are_refused(corpus, capsys):
    config = _exp(corpus)
    folds = read_folds(corpus / "folds.csv")
    half = [Fold(f.index, f.train[: len(f.train) // 2], f.val, f.test) for f in folds]
    write_folds(half, corpus / "folds.csv")
    assert main(["train", str(config), "-o", str(corpus / "run")]) == 2
    err = capsys.readouterr().err
    assert "fold 1 leaves 8 of 32 manifest rows out" in err and str(corpus / "folds.csv") in err


def test_a_label_map_that_drops_rows_keeps_folds_valid(corpus):
    """Rows dropped by the label map are in no fold of the mapped manifest: that is not an error."""
    config = _exp(corpus, data={"manifest": "manifest.csv", "folds": "folds.csv",
                                "labels": {"low": "low", "high": "high"}})
    assert main(["train", str(config), "-o", str(corpus / "run")]) == 0


# ---------------------------------------------------------------- system errors, one line each
def test_a_full_disk_gives_one_line_and_keeps_the_previous_files(corpus, capsys, monkeypatch):
    config = _exp(corpus)
    run = corpus / "run"
    assert main(["train", str(config), "-o", str(run)]) == 0
    before = _snapshot(run)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr("after.atomic.os.fsync", full)
    capsys.readouterr()
    assert main(["train", str(config), "-o", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("after train: error: ") and "disk is full" in err
    assert str(run) in err                                    # names the file it could not write
    after_ = _snapshot(run)
    assert {k: v for k, v in after_.items() if k != ".lock"} == {k: v for k, v in before.items() if k != ".lock"}


def test_a_read_only_output_location_gives_one_line(corpus, capsys, monkeypatch):
    config = _exp(corpus)
    real_mkdir = Path.mkdir

    def read_only(self, *a, **k):
        if "ro" in self.parts:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *a, **k)
    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["train", str(config), "-o", str(corpus / "ro" / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(corpus / "ro" / "run") in err and "read-only" in err


def test_an_output_that_is_a_folder_gives_one_line(corpus, capsys):
    (corpus / "out.csv").mkdir()
    rc = main(["split", str(corpus / "manifest.csv"), "--folds", "2", "-o", str(corpus / "out.csv"), "--force"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and str(corpus / "out.csv") in err and "folder" in err


def test_malformed_yaml_names_the_file_and_line(corpus, capsys):
    bad = corpus / "bad.yaml"
    bad.write_text("data:\n  manifest: manifest.csv\n  folds: [folds.csv\nseeds: [0]\n")
    assert main(["train", str(bad), "-o", str(corpus / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "line" in err and "YAML" in err


def test_truncated_weights_give_one_line_naming_the_file(corpus, tmp_path, capsys):
    from tiny_encoders import make_tiny
    folder = Path(make_tiny("wav2vec2", tmp_path / "w2v"))
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    config = _exp(corpus, model={"backbone": str(folder)})
    capsys.readouterr()
    assert main(["train", str(config), "-o", str(corpus / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(weights) in err and "truncated" in err


def test_verbose_shows_the_traceback(corpus, capsys):
    config = _exp(corpus)
    assert main(["-v", "train", str(config), "-o", str(corpus / "run"), "--set", "head.max_epochs=-5"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_ctrl_c_says_what_was_kept(corpus, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr("after.experiments.train.run_experiment", interrupted)
    config = _exp(corpus)
    assert main(["train", str(config), "-o", str(corpus / "run")]) == 130
    err = capsys.readouterr().err.strip()
    assert err == (f"after train: interrupted; finished folds are kept in {corpus / 'run'}; "
                   "run the same command to resume")


def test_a_label_map_file_edited_in_place_is_refused(corpus, capsys):
    (corpus / "map.yaml").write_text("low: low\nhigh: high\n")
    config = _exp(corpus, data={"manifest": "manifest.csv", "folds": "folds.csv", "labels": "map.yaml"})
    run = corpus / "run"
    assert main(["train", str(config), "-o", str(run)]) == 0
    (corpus / "map.yaml").write_text("low: calm\nhigh: high\n")
    capsys.readouterr()
    assert main(["train", str(config), "-o", str(run)]) == 2
    assert f"labels file {corpus / 'map.yaml'}" in capsys.readouterr().err


def _trained_on_a_model_folder(corpus: Path) -> tuple[Path, Path, Path]:
    """``after train`` on a tiny wav2vec2 saved in a local folder: (model folder, config, run directory)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
    from tiny_encoders import make_tiny

    folder = Path(make_tiny("wav2vec2", corpus / "w2v"))
    config = _exp(corpus, model={"backbone": str(folder)}, max_folds=1)
    run = corpus / "run"
    assert main(["train", str(config), "-o", str(run)]) == 0
    return folder, config, run


def test_weights_replaced_in_a_local_model_folder_are_refused_on_resume(corpus, capsys):
    """A model folder is an input like the manifest: new weights in the same folder would mix two encoders."""
    from safetensors.torch import load_file, save_file

    folder, config, run = _trained_on_a_model_folder(corpus)
    assert "backbone/model.safetensors" in json.loads((run / "fingerprint.json").read_text())["inputs"]
    assert main(["train", str(config), "-o", str(run)]) == 0          # same weights: resumes
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    save_file({k: v + 0.01 for k, v in state.items()}, str(weights), metadata={"format": "pt"})
    capsys.readouterr()
    before = _snapshot(run)
    assert main(["train", str(config), "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert "backbone/model.safetensors" in err and "content changed" in err
    assert _snapshot(run) == before                                    # nothing of the finished run is lost


def test_a_fingerprint_from_before_model_folder_checks_still_resumes(corpus, caplog):
    _, config, run = _trained_on_a_model_folder(corpus)
    fp = json.loads((run / "fingerprint.json").read_text())
    fp["inputs"] = {k: v for k, v in fp["inputs"].items() if not k.startswith("backbone/")}   # as older after wrote it
    (run / "fingerprint.json").write_text(json.dumps(fp))
    assert main(["train", str(config), "-o", str(run)]) == 0
    assert "predates model-folder checks" in caplog.text
    assert "backbone/model.safetensors" in json.loads((run / "fingerprint.json").read_text())["inputs"]


@pytest.mark.parametrize("value, resumes", [(True, True), (False, False)])
def test_a_config_field_added_by_a_newer_after_is_no_change_while_it_keeps_its_default(corpus, capsys, value, resumes):
    """A run made before a field existed ran with the field's default; resuming with that default is the same run."""
    run = corpus / "run"
    assert main(["train", str(_exp(corpus, max_folds=1)), "-o", str(run)]) == 0
    fp = json.loads((run / "fingerprint.json").read_text())
    del fp["config"]["final_model"]                       # as an after without the field wrote it (default: True)
    (run / "fingerprint.json").write_text(json.dumps(fp))
    capsys.readouterr()
    rc = main(["train", str(_exp(corpus, max_folds=1, final_model=value)), "-o", str(run)])
    assert rc == (0 if resumes else 2)
    if not resumes:
        assert "final_model (added: False)" in capsys.readouterr().err
