"""Algorithm 1: round sizes, label discipline, records, kill -9 and resume, the file oracle cycle."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from after.al.loop import ActiveLearningLoop, LoopConfig, LoopData, round_sizes, to_targets
from after.al.oracles import SimulatedOracle
from after.al.pool import LabelPool
from after.al.records import RoundLog, aulc, summarize_rounds
from after.cli import main as cli
from after.data.folds import write_folds
from after.data.manifest import Utterance, write_manifest
from after.data.splits import split_by_group
from run_helpers import kill_mid_run

CLASSES = ["angry", "happy", "neutral", "sad"]


# ---------------------------------------------------------------- round sizes and records
def test_round_sizes_follow_algorithm_1():
    # Ns = floor(0.2 * 1000) = 200, tau = 3 -> k = floor(200 / 3) = 66; cold start ceil(1 % of 1000) = 10
    assert round_sizes(1000, LoopConfig(budget=0.2, rounds=3)) == [10, 66, 66, 66]
    assert round_sizes(1000, LoopConfig(budget=150, rounds=5, init_fraction=0.02)) == [20, 30, 30, 30, 30, 30]
    assert round_sizes(1000, LoopConfig(schedule=(0.05, 0.1))) == [10, 40, 50]
    with pytest.raises(ValueError, match="floor"):
        round_sizes(100, LoopConfig(budget=0.02, rounds=5))
    with pytest.raises(ValueError, match="grow strictly"):
        round_sizes(1000, LoopConfig(schedule=(0.1, 0.05)))


def test_aulc_known_answers():
    assert aulc([0.0, 1.0], [0.5, 0.5]) == pytest.approx(0.5)
    assert aulc([0.0, 0.5, 1.0], [0.0, 1.0, 1.0]) == pytest.approx(0.75)
    # interpolated at the interval ends: the straight line 0 -> 1 over [0.25, 0.75] averages 0.5
    assert aulc([0.0, 1.0], [0.0, 1.0], lo=0.25, hi=0.75) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        aulc([0.1, 0.1], [0.5, 0.6])


def _record(r, n_labelled, picks, ua, n_pool=100):
    return {"round": r, "n_labelled": n_labelled, "fraction": n_labelled / n_pool, "selected": [f"c{i}" for i in
            range(picks)], "test_ua": ua, "test_wa": ua, "test_f1": ua, "seconds": {"train": 1.0}}


def test_aulc_runs_over_the_budget_spent_when_a_round_labels_no_new_clip():
    """Pairs asked about clips already labelled (or a round all skipped) spend budget but add no clip: the
    curve's x-axis is the picks asked, so the summary has an AULC instead of 'fractions must increase'."""
    recs = [_record(0, 10, 10, 0.4), _record(1, 10, 10, 0.6), _record(2, 20, 10, 0.6)]
    assert summarize_rounds(recs)["aulc"] == pytest.approx(aulc([0.1, 0.2, 0.3], [0.4, 0.6, 0.6]))
    plain = [_record(0, 10, 10, 0.4), _record(1, 15, 5, 0.5), _record(2, 25, 10, 0.7)]   # every pick labelled
    assert summarize_rounds(plain)["aulc"] == pytest.approx(aulc([0.10, 0.15, 0.25], [0.4, 0.5, 0.7]))


def test_round_log_drops_a_torn_last_line(tmp_path):
    log = RoundLog(tmp_path / "rounds.jsonl")
    log.append({"round": 0, "x": 1})
    log.append({"round": 1, "x": 2})
    with open(log.path, "a") as fh:
        fh.write('{"round": 2, "x"')            # a kill in the middle of a write
    assert [r["round"] for r in log.records()] == [0, 1]
    assert log.path.read_text().count("\n") == 2  # the torn line is gone from the file too
    log.append({"round": 2, "x": 3})
    assert [r["round"] for r in log.records()] == [0, 1, 2]


def test_to_targets_hard_soft_and_votes():
    assert to_targets(["sad", "angry"], CLASSES, soft=False).tolist() == [3, 0]
    soft = to_targets([("happy", "happy", "sad", "happy")], CLASSES, soft=True)
    assert soft[0] == pytest.approx([0, 0.75, 0, 0.25])
    assert to_targets([("happy", "sad", "sad")], CLASSES, soft=False).tolist() == [3]   # majority
    with pytest.raises(ValueError, match="not one of the classes"):
        to_targets(["bored"], CLASSES, soft=False)


# ---------------------------------------------------------------- the loop on arrays, with a spy learner
class SpyLearner:
    """A nearest-centroid learner that records every row and label it is trained on."""

    def __init__(self, x: np.ndarray, n_classes: int):
        self.x, self.n_classes = x, n_classes
        self.fits: list[tuple[np.ndarray, np.ndarray]] = []
        self.centroids = np.zeros((n_classes, x.shape[1]))

    def fit(self, train_idx, y_train, val_idx, y_val):
        self.fits.append((np.array(train_idx), np.array(y_train)))
        for c in range(self.n_classes):
            rows = self.x[train_idx][y_train == c]
            if len(rows):
                self.centroids[c] = rows.mean(0)
        return {"epochs": 1, "seconds": 0.0}

    def reset(self):
        self.centroids[:] = 0

    def predict_proba(self, idx):
        d = -((self.x[idx][:, None, :] - self.centroids[None]) ** 2).sum(-1)
        e = np.exp(d - d.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def save_state(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        np.save(Path(path) / "c.npy", self.centroids)

    def load_state(self, path):
        self.centroids = np.load(Path(path) / "c.npy")


class CountingOracle(SimulatedOracle):
    pass


def _blob_data(n_pool=200, seed=0):
    rng = np.random.default_rng(seed)
    n = n_pool + 80
    y = rng.integers(0, 4, n)
    x = rng.normal(size=(n, 8)) + 3 * np.eye(4, 8)[y]
    return x, y


def test_loop_trains_only_on_oracle_labels_and_logs_every_round(tmp_path):
    x, y = _blob_data()
    ids = [f"u{i}" for i in range(200)]
    oracle = SimulatedOracle({i: CLASSES[y[j]] for j, i in enumerate(ids)})
    pool = LabelPool(ids, oracle)
    learner = SpyLearner(x, 4)
    data = LoopData(pool_rows=np.arange(200), init_features=x[:200], val_rows=np.arange(200, 240),
                    y_val=y[200:240], test_rows=np.arange(240, 280), y_test=y[240:280], classes=CLASSES)
    records = ActiveLearningLoop(learner, pool, data, LoopConfig(budget=0.2, rounds=4), tmp_path).run()
    assert [r["n_labelled"] for r in records] == [2, 12, 22, 32, 42]
    # every clip the learner trained on was asked of the oracle, and got exactly the oracle's label
    assert oracle.n_queried == 42
    for rows, labels in learner.fits:
        assert set(rows.tolist()) <= {int(i[1:]) for i in pool.labelled_ids()}
        assert labels.tolist() == y[rows].tolist()
        assert rows.max() < 200        # never a validation or test row
    # the round records and the summary say the same thing
    selected = [i for r in records for i in r["selected"]]
    assert selected == pool.labelled_ids() and len(set(selected)) == 42
    assert all(set(r["seconds"]) == {"score", "select", "train", "evaluate"} for r in records)
    summary = summarize_rounds(RoundLog(tmp_path / "rounds.jsonl").records())
    assert summary["test_ua"] == records[-1]["test_ua"] and 0 <= summary["aulc"] <= 1


def test_same_seed_same_selections_other_seed_other_selections(tmp_path):
    x, y = _blob_data()
    ids = [f"u{i}" for i in range(200)]

    def run(seed, d):
        data = LoopData(pool_rows=np.arange(200), init_features=x[:200], val_rows=np.arange(200, 240),
                        y_val=y[200:240], test_rows=np.arange(240, 280), y_test=y[240:280], classes=CLASSES)
        pool = LabelPool(ids, SimulatedOracle({i: CLASSES[y[j]] for j, i in enumerate(ids)}))
        cfg = LoopConfig(strategy="random", init="random", budget=0.2, rounds=2, seed=seed)
        return [r["selected"] for r in ActiveLearningLoop(SpyLearner(x, 4), pool, data, cfg, tmp_path / d).run()]

    first = run(3, "a")    # each run in its own directory: a finished directory with an empty pool is refused
    assert first == run(3, "b")
    assert first != run(4, "c")


# ---------------------------------------------------------------- the CLI end to end: kill -9 and resume
def _write_corpus(root: Path, n_speakers=6, per_class=4, evaluators=False) -> tuple[Path, Path]:
    """Synthetic clips whose class sets the pitch, so a log-mel learner can tell them apart."""
    rng = np.random.default_rng(0)
    utts = []
    sr = 16_000
    for s in range(n_speakers):
        for c, emo in enumerate(CLASSES):
            for k in range(per_class):
                dur = 0.5 + 0.25 * rng.random()
                t = np.arange(int(dur * sr)) / sr
                f0 = 150 * (1 + c) * (1 + 0.05 * s)
                wav = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.02 * rng.normal(size=t.size)
                path = root / "audio" / f"s{s}_{emo}_{k}.flac"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, wav.astype(np.float32), sr)
                # IEMOCAP-style evaluator labels: two agree with the emotion, the third says neutral
                extra = {"evaluator_labels": json.dumps([{"evaluator": e, "labels": [lab]} for e, lab in (
                    ("E1", emo), ("E2", emo), ("E3", "neutral"))])} if evaluators else {}
                utts.append(Utterance(id=f"syn_s{s}_{emo}_{k}", path=str(path), corpus="syn", speaker=f"syn_{s}",
                                      gender="f", emotion=emo, original_label=emo, language="en",
                                      duration_s=len(t) / sr, extra=extra))
    manifest = write_manifest(utts, root / "manifest.csv")
    from after.data.manifest import read_manifest
    folds = write_folds(split_by_group(read_manifest(manifest), "speaker", 3, 0.2, seed=0), root / "folds.csv")
    return manifest, folds


def _config(tmp_path: Path, evaluators=False, **extra) -> Path:
    manifest, folds = _write_corpus(tmp_path / "corpus", evaluators=evaluators)
    cfg = {"strategy": "entropy", "init": "kmeans", "init_fraction": 0.05, "budget": 0.8, "rounds": 8, "seed": 1,
           "data": {"manifest": str(manifest), "folds": str(folds)},
           "learner": {"kind": "embedding", "backbone": "logmel", "cache_dir": str(tmp_path / "cache"),
                       "head": {"max_epochs": 40, "patience": 5}}}
    cfg.update(extra)
    path = tmp_path / "al.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _rounds(run: Path) -> list[dict]:
    return RoundLog(run / "rounds.jsonl").records()


def test_kill_minus_nine_then_resume_gives_the_uninterrupted_run(tmp_path):
    config = _config(tmp_path)
    assert cli(["al", str(config), "-o", str(tmp_path / "ref")]) == 0
    reference = _rounds(tmp_path / "ref")
    assert len(reference) == 9
    run = tmp_path / "killed"
    killed_at = kill_mid_run(config, run, lambda r: len(_rounds(r)))
    assert 0 < killed_at < 9, "the run was never caught mid-way"
    labelled_before = json.loads((run / "pool.json").read_text())["labelled"]
    assert cli(["al", str(config), "-o", str(run)]) == 0
    resumed = _rounds(run)
    assert [r["selected"] for r in resumed] == [r["selected"] for r in reference]
    assert [r["test_ua"] for r in resumed] == [r["test_ua"] for r in reference]
    assert [r["val_ua"] for r in resumed] == [r["val_ua"] for r in reference]
    labelled_after = {d["id"]: d for d in json.loads((run / "pool.json").read_text())["labelled"]}
    assert all(labelled_after[d["id"]] == d for d in labelled_before)   # no label lost or changed
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_ua"] == reference[-1]["test_ua"] and (run / "learning_curve.png").is_file()


def test_resume_refuses_a_different_config(tmp_path):
    config = _config(tmp_path, rounds=2, budget=0.4)
    assert cli(["al", str(config), "-o", str(tmp_path / "run")]) == 0
    assert cli(["al", str(config), "-o", str(tmp_path / "run"), "--set", "strategy=random"]) == 2


def test_file_oracle_waits_for_people_and_resumes(tmp_path, capsys):
    config = _config(tmp_path, oracle="file", rounds=2, budget=0.4)
    run = tmp_path / "run"
    assert cli(["al", str(config), "-o", str(run)]) == 3          # round 0: clips written, nothing trained
    sheet = run / "to_label.csv"
    assert sheet.is_file() and not (run / "rounds.jsonl").exists()
    truth = {f"syn_s{s}_{e}_{k}": e for s in range(6) for e in CLASSES for k in range(4)}
    for _ in range(3):                                             # cold start + 2 rounds
        import csv
        rows = list(csv.DictReader(open(sheet)))
        for r in rows:
            r["label"] = r["label"] or truth[r["id"]].upper()        # people type as they like
        with open(sheet, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        code = cli(["al", str(config), "-o", str(run)])
    assert code == 0
    recs = _rounds(run)
    assert len(recs) == 3
    pool = json.loads((run / "pool.json").read_text())["labelled"]
    assert all(d["label"] == truth[d["id"]] for d in pool)


# ---------------------------------------------------------------- several annotators, one head each
def test_annotator_heads_learn_each_annotator_and_feed_annotator_strategies(tmp_path):
    from after.al.oracles import MultiAnnotatorOracle
    from after.training.annotator_heads import AnnotatorHeadsLearner
    from after.training.config import HeadConfig

    x, y = _blob_data(n_pool=200)
    ids = [f"u{i}" for i in range(200)]
    # annotator 0 is right, annotator 1 always says "sad", annotator 2 gives no vote on every other clip
    votes = {i: (CLASSES[y[j]], "sad") + ((CLASSES[y[j]],) if j % 2 == 0 else ()) for j, i in enumerate(ids)}
    oracle = MultiAnnotatorOracle(votes)
    feats = x[:, None, :].astype(np.float32)
    learner = AnnotatorHeadsLearner(feats, HeadConfig(max_epochs=60, patience=10), 4, n_annotators=3, seed=0)
    data = LoopData(pool_rows=np.arange(200), init_features=x[:200], val_rows=np.arange(200, 240),
                    y_val=y[200:240], test_rows=np.arange(240, 280), y_test=y[240:280], classes=CLASSES)
    cfg = LoopConfig(strategy="vote_variance", init="random", init_fraction=0.2, budget=0.4, rounds=2)
    records = ActiveLearningLoop(learner, LabelPool(ids, oracle), data, cfg, tmp_path).run()
    assert len(records) == 3 and oracle.queries
    test = np.arange(240, 280)
    per_head = learner.predict_annotators(test)                 # [n, 3, 4]
    assert per_head.shape == (40, 3, 4)
    assert (per_head[:, 0].argmax(1) == y[240:280]).mean() > 0.8  # the reliable annotator's head
    assert (per_head[:, 1].argmax(1) == CLASSES.index("sad")).all()  # the "always sad" annotator's head
    np.testing.assert_allclose(learner.predict_proba(test), per_head.mean(1), rtol=1e-6)


@pytest.mark.parametrize("kind,strategy,soft", [("annotator_heads", "mix", False), ("embedding", "entropy", True)])
def test_after_al_with_several_annotators(tmp_path, kind, strategy, soft):
    config = _config(tmp_path, evaluators=True, oracle="annotators", strategy=strategy, soft_labels=soft,
                     rounds=2, budget=0.4)
    cfg = yaml.safe_load(config.read_text())
    cfg["learner"]["kind"] = kind
    cfg["learner"]["n_annotators"] = 3
    config.write_text(yaml.safe_dump(cfg))
    assert cli(["al", str(config), "-o", str(tmp_path / "run")]) == 0
    labelled = json.loads((tmp_path / "run" / "pool.json").read_text())["labelled"]
    # every label in the pool is the three evaluators' votes, as the oracle gave them
    assert all(len(d["label"]) == 3 and d["label"][2].endswith("neutral") for d in labelled)
    if kind == "annotator_heads":
        assert (tmp_path / "run" / "learner" / "round_2" / "annotator_2" / "state.pt").is_file()


def test_proportional_quotas():
    from after.al.loop import proportional_quotas
    assert proportional_quotas([50, 30, 20], 10) == [5, 3, 2]
    assert proportional_quotas([1, 99], 10) == [0, 10]
    assert sum(proportional_quotas([3, 3, 3], 7)) == 7
    assert proportional_quotas([1, 1, 100], 50)[:2] in ([0, 1], [1, 0], [1, 1], [0, 0])
    with pytest.raises(ValueError):
        proportional_quotas([2, 2], 5)


def test_stratified_rounds_share_k_over_the_groups(tmp_path):
    x, y = _blob_data()
    ids = [f"u{i}" for i in range(200)]
    strata = ["big"] * 150 + ["small"] * 50
    data = LoopData(pool_rows=np.arange(200), init_features=x[:200], val_rows=np.arange(200, 240),
                    y_val=y[200:240], test_rows=np.arange(240, 280), y_test=y[240:280], classes=CLASSES,
                    strata=strata)
    pool = LabelPool(ids, SimulatedOracle({i: CLASSES[y[j]] for j, i in enumerate(ids)}))
    cfg = LoopConfig(strategy="entropy", init="kmeans", init_fraction=0.04, budget=0.4, rounds=2)
    records = ActiveLearningLoop(SpyLearner(x, 4), pool, data, cfg, tmp_path).run()
    for rec in records:   # 8 then 40 per round: 3/4 from the big group, 1/4 from the small one
        small = sum(int(i[1:]) >= 150 for i in rec["selected"])
        assert small == len(rec["selected"]) // 4


# ---------------------------------------------------------------- fine-tuning inside the loop, resumed
def test_fine_tune_learner_resumes_inside_the_loop(tmp_path):
    """A run stopped after round 1 and resumed by a *new* process-like learner gives round 2 exactly."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
    from tiny_encoders import make_tiny

    from after.data.manifest import read_manifest
    from after.training.config import HeadConfig, ModelConfig, TrainConfig
    from after.training.finetune import FineTuneLearner

    manifest_path, _ = _write_corpus(tmp_path / "corpus", n_speakers=3, per_class=3)
    manifest = read_manifest(manifest_path)
    folder = make_tiny("whisper", tmp_path / "tiny_whisper")
    ids = manifest.ids[:24]
    paths = [manifest.by_id(i).path for i in manifest.ids]
    y = np.array([CLASSES.index(manifest.by_id(i).emotion) for i in manifest.ids])

    def learner():
        return FineTuneLearner(paths, folder, 4, model_cfg=ModelConfig(freeze="feature_encoder"),
                               head_cfg=HeadConfig(hidden_dim=8), seed=0,
                               train_cfg=TrainConfig(max_epochs=2, patience=1, batch_seconds=4.0))

    def loop(run, lrn):
        data = LoopData(pool_rows=np.arange(24), init_features=np.random.default_rng(0).normal(size=(24, 4)),
                        val_rows=np.arange(24, 30), y_val=y[24:30], test_rows=np.arange(30, 36),
                        y_test=y[30:36], classes=CLASSES)
        pool = LabelPool.open(run / "pool.json", ids,
                              SimulatedOracle({i: manifest.by_id(i).emotion for i in ids}))
        cfg = LoopConfig(strategy="entropy", init="random", init_fraction=0.2, schedule=(0.4, 0.6), seed=0)
        return ActiveLearningLoop(lrn, pool, data, cfg, run)

    reference = loop(tmp_path / "ref", learner()).run()
    stopped = loop(tmp_path / "stopped", learner())
    stopped.run_round(0)
    stopped.run_round(1)
    resumed = loop(tmp_path / "stopped", learner()).run()      # fresh weights; state comes from disk
    assert [r["selected"] for r in resumed] == [r["selected"] for r in reference]
    assert resumed[2]["test_ua"] == reference[2]["test_ua"]
    assert resumed[2]["scores"] == pytest.approx(reference[2]["scores"], rel=1e-5)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=8).filter(lambda s: sum(s) > 0), st.data())
def test_quotas_always_sum_to_k_and_fit_their_groups(sizes, data):
    from after.al.loop import proportional_quotas
    k = data.draw(st.integers(0, sum(sizes)))
    quota = proportional_quotas(sizes, k)
    assert sum(quota) == k
    assert all(0 <= q <= s for q, s in zip(quota, sizes))
    # never more than one clip away from the exact proportional share (largest remainder)
    assert all(abs(q - k * s / sum(sizes)) < 1 + 1e-9 for q, s in zip(quota, sizes) if q < s)


@settings(max_examples=200, deadline=None)
@given(st.integers(10, 5000), st.floats(0.001, 0.05), st.floats(0.05, 0.9), st.integers(1, 10))
def test_round_sizes_never_exceed_the_pool(n_pool, init_fraction, budget, rounds):
    cfg = LoopConfig(init_fraction=init_fraction, budget=budget, rounds=rounds)
    try:
        sizes = round_sizes(n_pool, cfg)
    except ValueError:
        return                                   # k = floor(Ns / tau) = 0: refused with a message
    assert sum(sizes) <= n_pool and all(s >= 1 for s in sizes) and len(sizes) == rounds + 1
    assert sizes[1:] == [sizes[1]] * rounds      # k is the same every round


def test_unknown_strategy_is_refused_before_any_work(tmp_path, capsys):
    config = _config(tmp_path, strategy="entropyy")
    assert cli(["al", str(config), "-o", str(tmp_path / "run")]) == 2
    assert "entropyy" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()       # no embedding was computed
