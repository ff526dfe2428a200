"""`after al` leaves the learner of its latest round as a model bundle in RUN/model/."""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_loop import _config  # noqa: E402

from after.cli import main as cli  # noqa: E402
from after.data.audio import load_audio  # noqa: E402
from after.experiments.active import ALConfig, build_learner, loop_data  # noqa: E402,F401
from after.training.bundle import load_bundle  # noqa: E402


def _last_round_learner(run: Path, bundle):
    """(the run's learner after its last round, rebuilt from its saved state; the audio paths of the
    fold's train + val + test rows; the test rows; each row's emotion)."""
    from after.config import load_config
    from after.data.folds import read_folds
    from after.data.manifest import read_manifest
    cfg = load_config(ALConfig, run / "config.yaml")
    manifest = read_manifest(cfg.data.manifest)
    fold = {f.index: f for f in read_folds(cfg.data.folds)}[cfg.fold]
    ids = list(fold.train) + list(fold.val) + list(fold.test)
    paths = [manifest.by_id(i).path for i in ids]
    learner, _ = build_learner(cfg.learner, paths, len(bundle.classes), cfg.seed, n_pool=len(fold.train))
    last = max(int(p.name.split("_")[1]) for p in (run / "learner").glob("round_*"))
    learner.load_state(run / "learner" / f"round_{last}")
    return learner, paths, np.arange(len(ids) - len(fold.test), len(ids)), [manifest.by_id(i).emotion for i in ids]


def test_al_bundle_reproduces_the_last_round(tmp_path):
    config = _config(tmp_path, rounds=2, budget=0.4)
    run = tmp_path / "run"
    assert cli(["al", str(config), "-o", str(run)]) == 0
    bundle = load_bundle(run / "model")
    summary = json.loads((run / "summary.json").read_text())
    assert bundle.kind == "frozen" and bundle.classes == summary["classes"]
    assert bundle.metrics["test_ua"] == summary["test_ua"]
    # the learner after the last round, rebuilt from its saved state, against the bundle on the same audio
    learner, paths, test_rows, _ = _last_round_learner(run, bundle)
    expected = learner.predict_proba(test_rows)
    got = bundle.predict_proba([load_audio(paths[i]) for i in test_rows])
    # float32 features here, float16-cached ones in the learner (log-mel values near -10)
    np.testing.assert_allclose(got, expected, atol=2e-2)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.95


def test_waiting_for_labels_leaves_the_latest_finished_round_in_model(tmp_path):
    import csv
    from test_loop import CLASSES
    config = _config(tmp_path, oracle="file", rounds=2, budget=0.4)
    run = tmp_path / "run"
    assert cli(["al", str(config), "-o", str(run)]) == 3          # cold start asked for: nothing trained yet
    assert not (run / "model").exists()
    truth = {f"syn_s{s}_{e}_{k}": e for s in range(6) for e in CLASSES for k in range(4)}
    sheet = run / "to_label.csv"
    rows = list(csv.DictReader(open(sheet)))
    for r in rows:
        r["label"] = r["label"] or truth[r["id"]]
    with open(sheet, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert cli(["al", str(config), "-o", str(run)]) == 3          # round 0 trained, round 1's labels pending
    bundle = load_bundle(run / "model")
    first = json.loads((run / "rounds.jsonl").read_text().splitlines()[0])
    assert bundle.metrics["round"] == 0 and bundle.metrics["test_ua"] == first["test_ua"]
    assert bundle.metrics["pending"]


def test_annotator_heads_run_leaves_the_consensus_of_its_heads_as_a_bundle(tmp_path):
    """A team's run (one head per annotator) hands back a model too: the mean of the trained heads'
    probabilities, the prediction every round was scored with."""
    import yaml
    from after.evaluation.metrics import unweighted_accuracy
    from after.training.bundle import ConsensusHead
    from test_loop import _config as config_of
    config = config_of(tmp_path, evaluators=True, oracle="annotators", strategy="individual_entropy",
                       rounds=2, budget=0.3)
    cfg = yaml.safe_load(config.read_text())
    cfg["learner"].update(kind="annotator_heads", n_annotators=3)
    config.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    assert cli(["al", str(config), "-o", str(run)]) == 0
    bundle = load_bundle(run / "model")
    summary = json.loads((run / "summary.json").read_text())
    assert isinstance(bundle.model.head, ConsensusHead) and len(bundle.model.head.heads) == 3
    assert bundle.metrics["test_ua"] == summary["test_ua"]

    learner, paths, test_rows, emotions = _last_round_learner(run, bundle)
    expected = learner.predict_proba(test_rows)              # the consensus the round was scored with
    got = bundle.predict_proba([load_audio(paths[i]) for i in test_rows])
    np.testing.assert_allclose(got, expected, atol=2e-2)       # float16-cached features in the learner
    truth = [bundle.classes.index(emotions[i]) for i in test_rows]
    assert abs(unweighted_accuracy(truth, got.argmax(1)) - summary["test_ua"]) <= 0.05
    # a single head's answer is not the consensus: the bundle is not just the first head
    one = learner.heads[0].predict_proba(test_rows)
    assert np.abs(one - expected).max() > 1e-3
    # and `after predict` labels new audio with it
    import csv
    out = tmp_path / "predictions.csv"
    assert cli(["predict", str(run / "model"), *[paths[i] for i in test_rows[:3]], "-o", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 3
    for r, p in zip(rows, got[:3]):
        assert np.allclose([float(r[f"p_{c}"]) for c in bundle.classes], p, atol=1e-5)
