"""Issue 9: the loop keeps its promises. One test per item; each fails on the code before the fix (the
commit that adds it says how that was checked)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from after.al.base import PoolView
from after.al.loop import (ActiveLearningLoop, ComponentArgsError, LoopConfig, LoopData, count_annotations,
                           make_cold_start, make_strategy, to_targets, vote_matrix)
from after.al.oracles import SimulatedOracle
from after.al.pool import LabelPool
from after.al.strategies import BALD, Entropy
from after.config import ConfigError, load_config
from after.data.annotations import evaluator_votes
from after.data.labels import load_label_map
from after.data.manifest import Utterance
from after.experiments.active import (ALConfig, LearnerConfig, check_learner, check_stratify_by,
                                      learner_on_features, loop_data)
from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner
from after.training.losses import NonFiniteLossError

CLASSES = ["angry", "happy", "neutral", "sad"]


def _blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    return (rng.normal(size=(n, 8)) + 3 * np.eye(4, 8)[y]).astype(np.float32), y


# 1 ------------------------------------------------------------------ standardisation leak
def test_moving_the_test_rows_changes_nothing_in_the_pool_predictions(tmp_path):
    x, y = _blobs()
    feats = x[:, None, :]
    moved = feats.copy()
    moved[200:] = moved[200:] * 50 + 100          # rows 200.. are validation/test: shift them far away
    cfg = LearnerConfig(kind="embedding", head=HeadConfig(max_epochs=20, patience=5), device="cpu")
    preds = []
    for f in (feats, moved):
        learner = learner_on_features(cfg, f, [], 4, seed=0, n_pool=200)
        learner.fit(np.arange(40), y[:40], np.arange(40, 60), y[40:60])
        preds.append(learner.predict_proba(np.arange(200)))
        np.testing.assert_allclose(learner.norm_mean[0], x[:200].mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(preds[0], preds[1], rtol=1e-5, atol=1e-6)
    learner.save_state(tmp_path / "s")
    other = learner_on_features(cfg, feats, [], 4, seed=0, n_pool=180)    # other statistics
    with pytest.raises(ValueError, match="other feature statistics"):
        other.load_state(tmp_path / "s")


# 2 ------------------------------------------------------------------ stratification by labels
@pytest.mark.parametrize("column", ["emotion", "original_label", "evaluator_labels", "mood"])
def test_stratify_by_a_label_column_is_refused(column):
    with pytest.raises(ConfigError, match="stratify_by"):
        check_stratify_by(ALConfig(stratify_by=column))
    check_stratify_by(ALConfig(stratify_by="corpus"))
    check_stratify_by(ALConfig(stratify_by="mood", metadata_columns=("mood",))) if column == "mood" else None


# 3 and 8 ------------------------------------------------------------ annotator heads
def test_annotator_heads_need_votes_and_a_head_count_from_the_config():
    heads = LearnerConfig(kind="annotator_heads", n_annotators=3)
    with pytest.raises(ConfigError, match="oracle: annotators"):
        check_learner(ALConfig(oracle="simulated", learner=heads))
    with pytest.raises(ConfigError, match="n_annotators"):
        check_learner(ALConfig(oracle="annotators", learner=LearnerConfig(kind="annotator_heads")))
    check_learner(ALConfig(oracle="annotators", learner=heads))


def test_heads_are_keyed_by_evaluator_and_untrained_heads_do_not_vote():
    from after.training.annotator_heads import AnnotatorHeadsLearner
    labels = [("E2:sad", "E1:happy"), ("E1:happy", "E2:sad"), ("E3:neutral",)]
    slots: dict[str, int] = {}
    votes = vote_matrix(labels, CLASSES, 4, slots)
    assert slots == {"E2": 0, "E1": 1, "E3": 2}
    assert votes.tolist() == [[3, 1, -1, -1], [3, 1, -1, -1], [-1, -1, 2, -1]]
    assert count_annotations(labels) == 5 and count_annotations(["sad", "happy"]) == 2
    x, y = _blobs(60)
    learner = AnnotatorHeadsLearner(x[:, None, :], HeadConfig(max_epochs=5), 4, n_annotators=4, seed=0)
    only_first = np.full((20, 4), -1)
    only_first[:, 0] = y[:20]
    learner.fit_votes(np.arange(20), only_first, np.arange(20, 30), y[20:30])
    assert learner.predict_annotators(np.arange(30, 40)).shape == (10, 1, 4)   # heads 1..3 never voted


# 5 and 6 ------------------------------------------------------------ votes through the run's label map
def _utt(entries):
    return Utterance(id="u1", path="/x.wav", corpus="iemocap", speaker="s", gender="f", emotion="neutral",
                     original_label="neu", language="en", duration_s=1.0,
                     extra={"evaluator_labels": json.dumps(entries)})


def test_votes_pass_through_the_runs_label_map_and_keep_every_label():
    utt = _utt([{"evaluator": "E1", "labels": ["Excited"]}, {"evaluator": "E2", "labels": ["Frustration"]},
                {"evaluator": "E3", "labels": ["Sadness", "Neutral"]}])
    classes = ["excited", "frustrated", "neutral", "sad"]
    keep = load_label_map("keep")
    assert evaluator_votes(utt, classes, keep) == ("excited", "frustrated", "sad;neutral")
    assert evaluator_votes(utt, classes, keep, keyed=True) == ("E1:excited", "E2:frustrated", "E3:sad;neutral")
    assert evaluator_votes(utt, CLASSES, "4class") == ("happy", "sad;neutral")


# 10 ----------------------------------------------------------------- validation labels are counted
def test_rounds_count_the_validation_labels(tmp_path):
    x, y = _blobs()
    ids = [f"u{i}" for i in range(200)]
    data = LoopData(pool_rows=np.arange(200), init_features=x[:200], val_rows=np.arange(200, 220),
                    y_val=y[200:220], test_rows=np.arange(220, 240), y_test=y[220:240], classes=CLASSES)
    pool = LabelPool(ids, SimulatedOracle({i: CLASSES[y[j]] for j, i in enumerate(ids)}))
    learner = EmbeddingLearner(x, HeadConfig(max_epochs=5), 4, norm_idx=np.arange(200))
    cfg = LoopConfig(strategy="entropy", init="random", init_fraction=0.1, budget=0.1, rounds=1)
    recs = ActiveLearningLoop(learner, pool, data, cfg, tmp_path).run()
    assert recs[-1]["n_labelled"] == 40 and recs[-1]["n_val_labels"] == 20
    assert recs[-1]["fraction_with_val"] == pytest.approx(60 / 220)


# 11 ----------------------------------------------------------------- non-finite and weighted losses
def test_a_non_finite_loss_stops_the_run_naming_the_round_and_batch(tmp_path):
    x, y = _blobs()
    ids = [f"u{i}" for i in range(200)]
    data = LoopData(pool_rows=np.arange(200), init_features=x[:200], val_rows=np.arange(200, 220),
                    y_val=y[200:220], test_rows=np.arange(220, 240), y_test=y[220:240], classes=CLASSES)
    pool = LabelPool(ids, SimulatedOracle({i: CLASSES[y[j]] for j, i in enumerate(ids)}))
    learner = EmbeddingLearner(x, HeadConfig(max_epochs=50, patience=50, lr=1e30, batch_size=8), 4,
                               norm_idx=np.arange(200))
    cfg = LoopConfig(strategy="entropy", init="random", init_fraction=0.1, budget=0.1, rounds=1)
    with pytest.raises(NonFiniteLossError, match=r"round 0: epoch \d+, (training batch \d+|validation)"):
        ActiveLearningLoop(learner, pool, data, cfg, tmp_path).run()


def test_validation_loss_is_unweighted():
    x, y = _blobs()
    train = np.flatnonzero(y < 2)[:40]                       # classes 0 and 1 only
    val = np.flatnonzero(y == 2)[:20]                        # a class with weight 0 in the training set
    learner = EmbeddingLearner(x, HeadConfig(max_epochs=5, class_weights=True), 4)
    fit = learner.fit(train, y[train], val, y[val])
    assert fit["best_val_loss"] > 0.1                        # weighted, it would read 0 (-0)


def test_pool_view_clips_round_off_probabilities():
    probs = np.array([[1 + 5e-5, -5e-5, 0.0], [0.5, 0.5, 0.0]])
    assert np.isfinite(Entropy().scores(PoolView(probs=probs))).all()
    mc = np.stack([probs, probs], axis=-1)
    assert np.isfinite(BALD().scores(PoolView(mc_probs=mc))).all()
    from after.al.batchbald import BatchBALD
    BatchBALD().select(PoolView(mc_probs=mc), 2, np.random.default_rng(0))


# 12 ----------------------------------------------------------------- ties and ranges
def test_majority_vote_ties_are_broken_by_the_generator():
    picks = {int(to_targets([("happy", "sad")], CLASSES, soft=False, rng=np.random.default_rng(s))[0])
             for s in range(20)}
    assert picks == {1, 3}


def test_init_layer_out_of_range_is_an_error():
    from after.data.folds import Fold
    cfg = ALConfig(learner=LearnerConfig(init_layer=7))
    feats = np.zeros((4, 3, 2), dtype=np.float32)
    fold = Fold(index=1, train=("a", "b"), val=(), test=("c", "d"))
    with pytest.raises(ConfigError, match="init_layer"):
        loop_data(cfg, None, ["a", "b"], fold, feats)


# 13 ----------------------------------------------------------------- parameters from the config
def test_strategy_and_init_arguments_come_from_the_config():
    cfg = load_config(ALConfig, None, ["strategy=batchbald", "strategy_args.max_configurations=8",
                                       "init=kmeans", "init_args.max_clusters=3"])
    assert make_strategy(cfg).max_configurations == 8
    assert make_cold_start(cfg).max_clusters == 3
    with pytest.raises(ComponentArgsError, match="max_configurations"):
        make_strategy(LoopConfig(strategy="batchbald", strategy_args={"bogus": 1}))
