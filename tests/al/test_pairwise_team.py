"""`after al` with a team of people through the label sheet: oracle: file + annotator heads + annotators.

Each person is asked in rows of their own; the cold start asks everyone, individual entropy (Eq. 13) then asks
one chosen person per pick, and each person's head learns only that person's answers."""
from __future__ import annotations

import csv
import json
from collections import Counter

import pytest
import yaml

from after.cli import main as cli
from after.data.manifest import read_manifest
from test_loop import _config

TEAM = ["ana", "ben"]


def _team_config(tmp_path, **extra):
    config = _config(tmp_path, oracle="file", strategy="individual_entropy", annotators=TEAM, rounds=2,
                     budget=0.3, **extra)
    cfg = yaml.safe_load(config.read_text())
    cfg["learner"]["kind"] = "annotator_heads"
    config.write_text(yaml.safe_dump(cfg))
    return config, cfg


def _sheet(run):
    with open(run / "to_label.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_a_team_labels_through_the_sheet_one_chosen_person_per_pick(tmp_path, capsys):
    config, cfg = _team_config(tmp_path)
    truth = {u.id: u.emotion for u in read_manifest(cfg["data"]["manifest"])}
    run = tmp_path / "run"
    answered_by: Counter = Counter()
    for _ in range(8):
        rc = cli(["al", str(config), "-o", str(run)])
        if rc == 0:
            break
        assert rc == 3, capsys.readouterr().out            # rows are waiting for people
        rows = _sheet(run)
        for r in rows:
            if not r["label"]:
                r["label"] = truth[r["id"]]
                answered_by[r["annotator"]] += 1
        with open(run / "to_label.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    else:
        pytest.fail("the run never finished")
    rows = _sheet(run)
    assert {r["annotator"] for r in rows} == set(TEAM)                 # every row names the person asked
    per_clip = Counter(r["id"] for r in rows)
    cold = json.loads((run / "selection_0.json").read_text())["ids"]
    assert all(per_clip[i] == len(TEAM) for i in cold)                # the cold start asks everyone
    pairs = json.loads((run / "pool.json").read_text())["pairs"]
    assert pairs and all(p["annotator"] in TEAM for p in pairs)
    asked = Counter((r["id"], r["annotator"]) for r in rows)
    assert max(asked.values()) == 1                                   # no (clip, person) row twice
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_annotations"] == sum(answered_by.values()) == len(rows)
    assert summary["n_pairs_asked"] == len(pairs) == len(rows) - len(TEAM) * len(cold)


@pytest.mark.parametrize("change, message", [
    ({"annotators": []}, "needs annotators"),
    ({"annotators": ["ana", "ana"]}, "distinct ids"),
    ({"learner.n_annotators": 3}, "3 heads for 2 annotators"),
    ({"oracle": "simulated"}, "a team of annotators is for oracle: file"),
])
def test_a_team_config_that_cannot_work_is_refused_before_any_work(tmp_path, capsys, change, message):
    config, cfg = _team_config(tmp_path)
    for key, value in change.items():
        if key.startswith("learner."):
            cfg["learner"][key.split(".", 1)[1]] = value
        else:
            cfg[key] = value
    config.write_text(yaml.safe_dump(cfg))
    assert cli(["al", str(config), "-o", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
