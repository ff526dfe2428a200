"""`after al`'s run directory: one process at a time, no self-inflicted loss, human labels never replaced
silently (issue 7)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from test_loop import CLASSES, _config, _rounds  # noqa: E402
from test_run_directory import _snapshot, hold_and_stop, release  # noqa: E402

from after.al.records import RoundLog  # noqa: E402
from after.cli import main as cli  # noqa: E402
from after.errors import StateFileError  # noqa: E402


@pytest.mark.parametrize("second", ["same config", "another config"])
def test_two_al_processes_on_one_run_directory(tmp_path, capsys, second):
    config = _config(tmp_path, rounds=3, budget=0.4)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "strategy": "random"}))
    assert cli(["al", str(config), "-o", str(tmp_path / "ref")]) == 0
    run = tmp_path / "run"
    first = hold_and_stop(["al", str(config), "-o", str(run)], run)
    try:
        before = _snapshot(run)
        capsys.readouterr()
        rc = cli(["al", str(config if second == "same config" else other), "-o", str(run)])
        err = capsys.readouterr().err
        assert rc == 2 and f"is in use by pid {first.pid}" in err and len(err.strip().splitlines()) == 1
        assert _snapshot(run) == before                     # the refused process wrote nothing
    finally:
        assert release(first) == 0
    ref, got = _rounds(tmp_path / "ref"), _rounds(run)      # the first process's run alone, undisturbed
    assert [r["selected"] for r in got] == [r["selected"] for r in ref]
    assert [r["test_ua"] for r in got] == [r["test_ua"] for r in ref]


def test_a_byte_flipped_in_a_middle_line_is_named_and_the_log_kept(tmp_path):
    log = RoundLog(tmp_path / "rounds.jsonl")
    for r in range(3):
        log.append({"round": r, "x": r})
    raw = bytearray(log.path.read_bytes())
    second = raw.index(b"\n") + 1
    raw[second] = ord("[")                                  # line 2 starts with '[' instead of '{'
    log.path.write_bytes(bytes(raw))
    with pytest.raises(StateFileError, match=r"rounds.jsonl, line 2: not a valid round record"):
        log.records()
    assert log.path.read_bytes() == bytes(raw)             # nothing cut away


def test_a_damaged_last_line_with_its_newline_is_an_error_too(tmp_path):
    log = RoundLog(tmp_path / "rounds.jsonl")
    log.append({"round": 0})
    with open(log.path, "a") as fh:
        fh.write('{"round": 1, "x"\n')                     # complete line (newline written), bad JSON
    raw = log.path.read_bytes()
    with pytest.raises(StateFileError, match="line 2"):
        log.records()
    assert log.path.read_bytes() == raw


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path):
    log = RoundLog(tmp_path / "rounds.jsonl")
    log.append({"round": 0})
    with open(log.path, "a") as fh:
        fh.write('{"round": 1}')
    assert [r["round"] for r in log.records()] == [0, 1]
    log.append({"round": 2})
    assert [r["round"] for r in log.records()] == [0, 1, 2]


def test_pool_json_deleted_with_rounds_present_is_an_error(tmp_path, capsys):
    config = _config(tmp_path, rounds=2, budget=0.4)
    run = tmp_path / "run"
    assert cli(["al", str(config), "-o", str(run)]) == 0
    (run / "pool.json").unlink()
    rounds = (run / "rounds.jsonl").read_bytes()
    capsys.readouterr()
    assert cli(["al", str(config), "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert "pool.json is missing" in err and "3 finished round(s)" in err
    assert not (run / "pool.json").exists() and (run / "rounds.jsonl").read_bytes() == rounds


def test_damaged_state_files_are_named(tmp_path, capsys):
    config = _config(tmp_path, rounds=2, budget=0.4)
    run = tmp_path / "run"
    assert cli(["al", str(config), "-o", str(run)]) == 0
    # the learner state of the newest round
    state = run / "learner" / "round_2" / "state.pt"
    good = state.read_bytes()
    state.write_bytes(good[:50])
    capsys.readouterr()
    assert cli(["al", str(config), "-o", str(run)]) == 2
    assert str(state) in capsys.readouterr().err
    state.write_bytes(good)
    # a selection file of an unfinished round
    lines = (run / "rounds.jsonl").read_text().splitlines(keepends=True)
    (run / "rounds.jsonl").write_text("".join(lines[:2]))   # round 2 not finished
    (run / "selection_2.json").write_text('{"ids": [')
    assert cli(["al", str(config), "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(run / "selection_2.json") in err and "Delete it" in err
    (run / "selection_2.json").unlink()                      # what the message says: round 2 is redone
    assert cli(["al", str(config), "-o", str(run)]) == 0 and len(_rounds(run)) == 3
    # the pool state
    (run / "pool.json").write_text('{"version": 1, "ids"')
    assert cli(["al", str(config), "-o", str(run)]) == 2
    assert str(run / "pool.json") in capsys.readouterr().err


# ---------------------------------------------------------------- human labels in to_label.csv
def _fill(sheet: Path, truth: dict[str, str]) -> None:
    rows = list(csv.DictReader(open(sheet, encoding="utf-8")))
    for r in rows:
        r["label"] = r["label"] or truth[r["id"]]
    with open(sheet, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _set_label(sheet: Path, row: int, label: str) -> None:
    rows = list(csv.DictReader(open(sheet, encoding="utf-8")))
    rows[row]["label"] = label
    with open(sheet, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


TRUTH = {f"syn_s{s}_{e}_{k}": e for s in range(6) for e in CLASSES for k in range(4)}


def test_a_label_changed_after_it_was_used_is_refused(tmp_path, capsys):
    config = _config(tmp_path, oracle="file", rounds=2, budget=0.4)
    run = tmp_path / "run"
    sheet = run / "to_label.csv"
    assert cli(["al", str(config), "-o", str(run)]) == 3          # round 0 asked
    _fill(sheet, TRUTH)
    assert cli(["al", str(config), "-o", str(run)]) == 3          # round 0 trained, round 1 asked
    pool = (run / "pool.json").read_bytes()
    rows = list(csv.DictReader(open(sheet)))
    used = rows[0]
    new = next(c for c in CLASSES if c != used["label"])
    _set_label(sheet, 0, new)
    capsys.readouterr()
    assert cli(["al", str(config), "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"line 2: clip {used['id']!r} now says {new!r}, but it was labelled {used['label']!r} in round 0" in err
    assert (run / "pool.json").read_bytes() == pool                # nothing changed
    # putting the label back (as the message says) resumes
    _set_label(sheet, 0, used["label"])
    _fill(sheet, TRUTH)
    assert cli(["al", str(config), "-o", str(run)]) == 3


def test_two_rows_of_one_clip_with_different_labels_are_refused(tmp_path, capsys):
    config = _config(tmp_path, oracle="file", rounds=2, budget=0.4)
    run = tmp_path / "run"
    sheet = run / "to_label.csv"
    assert cli(["al", str(config), "-o", str(run)]) == 3
    _fill(sheet, TRUTH)
    lines = sheet.read_text().splitlines()
    cells = lines[1].split(",")
    clip, label = cells[0], cells[-1]                 # id first, label last
    other = next(c for c in CLASSES if c != label)
    sheet.write_text("\n".join(lines + [",".join(cells[:-1] + [other])]) + "\n")
    capsys.readouterr()
    assert cli(["al", str(config), "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"clip {clip!r} has two different labels, {label!r} on line 2 and {other!r} on line {len(lines) + 1}" in err
    assert not (run / "rounds.jsonl").exists()
    # the same label twice is no conflict
    sheet.write_text("\n".join(lines + [",".join(cells[:-1] + [label.upper()])]) + "\n")
    assert cli(["al", str(config), "-o", str(run)]) == 3


@pytest.mark.parametrize("labels_file", ["../elsewhere.csv", "ABSOLUTE"])
def test_labels_file_stays_inside_the_run_directory(tmp_path, capsys, labels_file):
    labels_file = str(tmp_path / "outside.csv") if labels_file == "ABSOLUTE" else labels_file
    config = _config(tmp_path, oracle="file", labels_file=labels_file)
    assert cli(["al", str(config), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"labels_file: {labels_file!r} is outside the run directory" in err
    assert not (tmp_path / "elsewhere.csv").exists() and not (tmp_path / "outside.csv").exists()


def test_budget_and_rounds_out_of_range_are_refused(tmp_path, capsys):
    config = _config(tmp_path)
    for bad, key in (("rounds=0", "rounds: 0"), ("budget=-0.2", "budget: -0.2"),
                     ("learner.head.lr=0", "learner.head.lr: 0"), ("init_fraction=1.5", "init_fraction: 1.5")):
        assert cli(["al", str(config), "-o", str(tmp_path / "run"), "--set", bad]) == 2
        assert key in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()                       # refused before any audio was embedded


def test_a_damaged_embedding_cache_entry_is_recomputed(tmp_path, caplog):
    from after.backbones.embeddings import extract_embeddings
    from test_loop import _write_corpus

    from after.data.manifest import read_manifest
    manifest = read_manifest(_write_corpus(tmp_path / "corpus", n_speakers=3, per_class=1)[0])
    paths = [u.path for u in manifest]
    first = extract_embeddings("logmel", paths, cache_dir=tmp_path / "cache")
    entry = sorted((tmp_path / "cache").rglob("*.npy"))[0]
    entry.write_bytes(entry.read_bytes()[:40])
    again = extract_embeddings("logmel", paths, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again, first)
    assert "damaged" in caplog.text and str(entry) in caplog.text
    assert np.load(entry).shape == first.shape[1:]                  # written again, whole


def test_ctrl_c_says_what_was_kept(tmp_path, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr("after.experiments.active.run_active_learning", interrupted)
    config = _config(tmp_path)
    assert cli(["al", str(config), "-o", str(tmp_path / "run")]) == 130
    assert capsys.readouterr().err.strip() == (
        f"after al: interrupted; finished rounds and every label given are kept in {tmp_path / 'run'}; "
        "run the same command to resume")
