"""`after al` with individual entropy: pairs asked end to end, counted in summary.json, kept across kill -9."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import yaml

from after.al.records import RoundLog
from after.cli import main as cli
from test_loop import _config


def _pairwise_config(tmp_path, **extra):
    config = _config(tmp_path, evaluators=True, oracle="annotators", strategy="individual_entropy", **extra)
    cfg = yaml.safe_load(config.read_text())
    cfg["learner"].update(kind="annotator_heads", n_annotators=3)
    config.write_text(yaml.safe_dump(cfg))
    return config


def _rounds(run):
    return RoundLog(run / "rounds.jsonl").records()


def test_after_al_asks_pairs_and_counts_annotations(tmp_path):
    config = _pairwise_config(tmp_path, rounds=3, budget=0.3)
    run = tmp_path / "run"
    assert cli(["al", str(config), "-o", str(run)]) == 0
    recs = _rounds(run)
    state = json.loads((run / "pool.json").read_text())
    cold = set(recs[0]["selected"])
    k = len(recs[1]["selected"])
    assert k >= 2 and all(r["round_pairs_asked"] == k == len(r["selected_annotators"]) for r in recs[1:])
    asked = [(p["id"], p["annotator"]) for p in state["pairs"]]
    assert len(asked) == len(set(asked)) == 3 * k and not cold & {i for i, _ in asked}
    assert {a for _, a in asked} <= {"E1", "E2", "E3"}
    for d in state["labelled"]:              # a clip asked pair by pair holds only the votes asked for
        if d["id"] not in cold:
            assert sorted(v.split(":")[0] for v in d["label"]) == sorted(a for i, a in asked if i == d["id"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_pairs_asked"] == 3 * k
    assert summary["n_annotations"] == 3 * len(cold) + 3 * k          # every simulated evaluator answers
    assert summary["n_labelled"] == len(cold | {i for i, _ in asked})


def test_kill_minus_nine_keeps_the_pairs_asked(tmp_path):
    config = _pairwise_config(tmp_path, rounds=5, budget=0.5)
    assert cli(["al", str(config), "-o", str(tmp_path / "ref")]) == 0
    reference = _rounds(tmp_path / "ref")
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "after.cli", "al", str(config), "-o", str(run)]
    killed_at = None
    for attempt in range(20):     # kill as soon as some, but not all, rounds are done
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            if (run / "rounds.jsonl").is_file() and len(_rounds(run)) >= 2 + attempt:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            killed_at = len(_rounds(run))
            break
    assert killed_at is not None and killed_at < len(reference), "the run was never caught mid-way"
    pairs_before = json.loads((run / "pool.json").read_text())["pairs"]
    assert pairs_before
    assert cli(["al", str(config), "-o", str(run)]) == 0
    resumed = _rounds(run)
    for key in ("selected", "selected_annotators", "n_annotations", "n_pairs_asked", "test_ua"):
        assert [r.get(key) for r in resumed] == [r.get(key) for r in reference], key
    pairs_after = json.loads((run / "pool.json").read_text())["pairs"]
    assert pairs_after[:len(pairs_before)] == pairs_before          # no pair lost, none asked again
    assert len({(p["id"], p["annotator"]) for p in pairs_after}) == len(pairs_after)
