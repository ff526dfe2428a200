"""`after al` on a pool of unlabelled audio (issue 8): declared classes, the file oracle by default, optional
labelled validation/test manifests, validation bought from the pool, null test figures with a reason, and
what the label sheet shows and accepts (votes, unsure, skip)."""
from __future__ import annotations

import csv
import json
import sys
from dataclasses import replace
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_loop import CLASSES, _write_corpus  # noqa: E402
from run_helpers import write_sheet  # noqa: E402

from after.cli import main as cli  # noqa: E402
from after.data.manifest import read_manifest, write_manifest  # noqa: E402


def _pool(tmp_path: Path, test: bool = False, val: bool = False) -> dict:
    """Speakers 0-3 unlabelled (the pool); speaker 4 as a labelled validation, speaker 5 as a test manifest."""
    manifest, _ = _write_corpus(tmp_path / "corpus")
    rows = read_manifest(manifest)
    truth = {u.id: u.emotion for u in rows}
    pool = [replace(u, emotion="", original_label="") for u in rows if u.speaker in ("syn_0", "syn_1", "syn_2", "syn_3")]
    data = {"manifest": str(write_manifest(pool, tmp_path / "pool.csv"))}
    if val:
        data["val"] = str(write_manifest([u for u in rows if u.speaker == "syn_4"], tmp_path / "val.csv"))
    if test:
        data["test"] = str(write_manifest([u for u in rows if u.speaker == "syn_5"], tmp_path / "test.csv"))
    return {"data": data, "truth": truth}


def _config(tmp_path: Path, data: dict, **extra) -> Path:
    cfg = {"strategy": "entropy", "init": "random", "init_fraction": 0.1, "budget": 16, "rounds": 2, "seed": 1,
           "classes": list(CLASSES), "data": data,
           "learner": {"kind": "embedding", "backbone": "logmel", "cache_dir": str(tmp_path / "cache"),
                       "head": {"max_epochs": 30, "patience": 5}}}
    cfg.update(extra)
    path = tmp_path / "al.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _sheet(run: Path) -> list[dict]:
    with open(run / "to_label.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(run: Path, rows: list[dict]) -> None:
    write_sheet(run / "to_label.csv", rows)


def _fill(run: Path, truth: dict, special: dict | None = None) -> None:
    rows = _sheet(run)
    for r in rows:
        r["label"] = r["label"] or (special or {}).get(r["id"], truth[r["id"]])
    _write(run, rows)


def _run_to_end(config: Path, run: Path, truth: dict, capsys, special=None, max_sittings=6) -> str:
    for _ in range(max_sittings):
        rc = cli(["al", str(config), "-o", str(run)])
        out = capsys.readouterr().out
        if rc == 0:
            return out
        assert rc == 3, out
        _fill(run, truth, special)
    raise AssertionError("the run never finished")


def test_an_unlabelled_pool_needs_declared_classes(tmp_path, capsys):
    made = _pool(tmp_path)
    config = _config(tmp_path, made["data"])
    cfg = yaml.safe_load(config.read_text())
    del cfg["classes"]
    config.write_text(yaml.safe_dump(cfg))
    assert cli(["al", str(config), "-o", str(tmp_path / "run")]) == 2
    assert "declare the classes" in capsys.readouterr().err


def test_pool_without_test_set_reports_no_test_figures_and_why(tmp_path, capsys):
    made = _pool(tmp_path)
    config = _config(tmp_path, made["data"], val_from_pool=4)
    run = tmp_path / "run"
    assert cli(["al", str(config), "-o", str(run)]) == 3            # file oracle by default: people are asked
    first = _sheet(run)
    val_rows = [r for r in first if r["round"] == "val"]
    cold = [r for r in first if r["round"] == "0"]
    assert len(val_rows) == 4 and len(cold) == 6                    # validation first, with the cold start
    assert all(Path(r["path"]).is_absolute() and Path(r["path"]).is_file() for r in first)
    assert all(r["predicted"] == "" and r["probability"] == "" and r["score"] == "" for r in first)
    assert [r["rank"] for r in cold] == [str(k) for k in range(1, 7)]
    _fill(run, made["truth"])
    assert cli(["al", str(config), "-o", str(run)]) == 3            # round 0 trained, round 1 asked
    second = [r for r in _sheet(run) if r["round"] == "1"]
    assert len(second) == 6                                         # (16 - 4 bought for validation) / 2 rounds
    assert all(r["predicted"] in CLASSES and 0 < float(r["probability"]) <= 1 and r["score"] for r in second)
    assert (run / "model" / "bundle.json").is_file()                # a model while labels are pending
    out = _run_to_end(config, run, made["truth"], capsys)
    rounds = [json.loads(line) for line in (run / "rounds.jsonl").read_text().splitlines()]
    assert all(r["test_ua"] is None and r["test_wa"] is None and "data.test is not given" in r["test_note"] for r in rounds)
    assert all(r["val_ua"] is not None for r in rounds)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_ua"] is None and summary["aulc"] is None and "data.test" in summary["test_note"]
    assert summary["n_val_labels"] == 4 and summary["n_val_from_pool"] == 4
    assert summary["n_labelled"] == 6 + 6 + 6 and summary["n_labels_total"] == 6 + 6 + 6 + 4
    assert summary["pool_size"] == 64 - 4 and summary["oracle"] == "file"
    assert "No test figures: data.test is not given" in " ".join(out.split())
    # bought validation clips never become candidates
    val_ids = {r["id"] for r in val_rows}
    assert not val_ids & {i for r in rounds for i in r["selected"]}


def test_labelled_validation_and_test_manifests_give_figures(tmp_path, capsys):
    made = _pool(tmp_path, test=True, val=True)
    config = _config(tmp_path, made["data"])
    out = _run_to_end(config, tmp_path / "run", made["truth"], capsys)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_ua"] is not None and summary["test_ua"] > 0.5 and "test_note" not in summary
    assert summary["n_val_labels"] == 16 and summary["n_labels_total"] == summary["n_labelled"] + 16
    assert "AULC (test UA)" in out


def test_a_test_manifest_that_shares_clips_with_the_pool_is_refused(tmp_path, capsys):
    made = _pool(tmp_path)
    pool = read_manifest(made["data"]["manifest"])
    truth = made["truth"]
    leaked = [replace(u, emotion=truth[u.id], original_label=truth[u.id]) for u in list(pool)[:3]]
    made["data"]["test"] = str(write_manifest(leaked, tmp_path / "leak.csv"))
    assert cli(["al", str(_config(tmp_path, made["data"])), "-o", str(tmp_path / "run")]) == 2
    assert "data.test shares 3 clip(s)" in capsys.readouterr().err


def test_votes_unsure_and_skip_and_a_bad_answer(tmp_path, capsys):
    made = _pool(tmp_path, test=True)
    config = _config(tmp_path, made["data"])
    run = tmp_path / "run"
    assert cli(["al", str(config), "-o", str(run)]) == 3
    rows = _sheet(run)
    a, b, c, d = (r["id"] for r in rows[:4])
    answers = {a: "skip", b: "Unsure", c: "sad;neutral", d: "bogus"}
    _fill(run, made["truth"], answers)
    capsys.readouterr()
    assert cli(["al", str(config), "-o", str(run)]) == 2           # the bad answer is named, with its line
    err = " ".join(capsys.readouterr().err.split())
    assert f"line 5 (id {d!r}): label 'bogus' is not one of" in err
    assert not (run / "pool.json").exists()                        # nothing used, nothing lost
    rows = _sheet(run)
    assert [r["label"] for r in rows[:3]] == ["skip", "Unsure", "sad;neutral"]
    rows[3]["label"] = made["truth"][d]
    _write(run, rows)
    _run_to_end(config, run, made["truth"], capsys)
    pool = json.loads((run / "pool.json").read_text())
    labelled = {r["id"]: r["label"] for r in pool["labelled"]}
    assert labelled[c] == ["sad", "neutral"]                       # kept as votes
    assert {r["id"]: r["answer"] for r in pool["skipped"]} == {a: "skip", b: "unsure"}
    rounds = [json.loads(line) for line in (run / "rounds.jsonl").read_text().splitlines()]
    assert a not in labelled and b not in labelled
    assert rounds[0]["n_labelled"] == 7 - 2 and rounds[-1]["n_skipped"] == 2   # not replaced, not counted
    asked = [r["id"] for r in _sheet(run)]
    assert asked.count(a) == 1 and asked.count(b) == 1             # never asked again


def test_without_any_validation_set_val_figures_are_null(tmp_path, capsys):
    made = _pool(tmp_path, test=True)
    _run_to_end(_config(tmp_path, made["data"]), tmp_path / "run", made["truth"], capsys)
    rounds = [json.loads(line) for line in (tmp_path / "run" / "rounds.jsonl").read_text().splitlines()]
    assert all(r["val_ua"] is None and r["n_val_labels"] == 0 for r in rounds)
    assert all(r["test_ua"] is not None for r in rounds)
