"""Individual entropy (AFTER Eq. 12-13) asks (clip, annotator) PAIRS: only the chosen annotator answers, only
that annotator's head learns the vote, the budget counts annotations, and a killed run keeps its pairs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from after.al.annotators import pair_entropies, select_pairs
from after.al.loop import ActiveLearningLoop, LoopConfig, LoopData
from after.al.oracles import MultiAnnotatorOracle
from after.al.pool import LabelPool, PoolError

CLASSES = ["ang", "hap", "neu", "sad"]
EVALUATORS = ("E1", "E2", "E3")
N_POOL = 12
SURE = [0.97, 0.01, 0.01, 0.01]


def _table() -> np.ndarray:
    """[N_POOL + 4 rows, 3 heads, 4 classes]: fixed head predictions with a known order of pair entropies."""
    p = np.tile(np.array(SURE), (N_POOL + 4, 3, 1))
    p[5, 1] = [0.25] * 4                       # (u5, E2): the most uncertain pair
    p[5, 0] = [0.4, 0.3, 0.2, 0.1]             # (u5, E1): second, on the same clip
    p[8, 2] = [0.5, 0.3, 0.1, 0.1]             # (u8, E3): third
    p[2, 0] = [0.7, 0.1, 0.1, 0.1]             # (u2, E1): fourth
    return p


class SpyHeads:
    """One 'head' per annotator with fixed predictions; records the vote matrix of every fit."""

    learns_from_votes = True

    def __init__(self, table: np.ndarray):
        self.table = table
        self.heads = [object()] * table.shape[1]
        self.trained = np.zeros(table.shape[1], dtype=bool)
        self.fits: list[tuple[np.ndarray, np.ndarray]] = []

    def fit_votes(self, train_idx, votes, val_idx, y_val):
        self.fits.append((np.asarray(train_idx).copy(), np.asarray(votes).copy()))
        self.trained |= (np.asarray(votes) >= 0).any(axis=0)
        return {"epochs": 1}

    def reset(self):
        self.trained[:] = False

    def predict_annotators(self, idx):
        return self.table[np.asarray(idx)][:, self.trained]

    def predict_proba(self, idx):
        return self.predict_annotators(idx).mean(axis=1)

    def save_state(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        np.save(Path(path) / "trained.npy", self.trained)

    def load_state(self, path):
        self.trained = np.load(Path(path) / "trained.npy")


def _votes(missing: tuple = ()) -> dict[str, list[str]]:
    """Every evaluator votes on every clip (E1 says the clip's class, E2 'sad', E3 'neu'), except ``missing``."""
    out = {}
    for n in range(N_POOL):
        i = f"u{n}"
        cast = {"E1": CLASSES[n % 4], "E2": "sad", "E3": "neu"}
        out[i] = [f"{e}:{v}" for e, v in cast.items() if (i, e) not in missing]
    return out


def _loop(run: Path, oracle, learner, pool: LabelPool | None = None, budget: float = 4, rounds: int = 2):
    ids = [f"u{n}" for n in range(N_POOL)]
    pool = pool if pool is not None else LabelPool(ids, oracle, path=run / "pool.json")
    x = np.eye(N_POOL + 4)
    data = LoopData(pool_rows=np.arange(N_POOL), init_features=x[:N_POOL], val_rows=np.array([12, 13]),
                    y_val=np.array([0, 1]), test_rows=np.array([14, 15]), y_test=np.array([2, 3]), classes=CLASSES)
    # the cold start: ceil(1 % of 12) = 1 random clip (u9 with seed 0), every annotator asked about it
    cfg = LoopConfig(strategy="individual_entropy", init="random", init_fraction=0.01, budget=budget,
                     rounds=rounds, seed=0)
    return ActiveLearningLoop(learner, pool, data, cfg, run)


def test_individual_entropy_asks_only_the_chosen_annotator(tmp_path):
    oracle = MultiAnnotatorOracle(_votes())
    learner = SpyHeads(_table())
    records = _loop(tmp_path, oracle, learner).run()
    cold = records[0]["selected"]
    assert cold == ["u9"]
    assert len(oracle.queries) == 1 and list(oracle.queries[0]) == cold    # the cold start asks everyone
    # Eq. 13, k = floor(4 / 2) = 2 pairs per round, highest entropy first; u5 is asked twice in round 1
    assert oracle.pair_queries == [(("u5", "E2"), ("u5", "E1")), (("u8", "E3"), ("u2", "E1"))]
    assert records[1]["selected"] == ["u5", "u5"] and records[1]["selected_annotators"] == ["E2", "E1"]
    # the heads learn only the votes that were asked: u5 has E2's and E1's vote, not E3's
    rows, votes = learner.fits[1]
    u5 = votes[list(rows).index(5)]
    assert u5.tolist() == [CLASSES.index("hap"), CLASSES.index("sad"), -1]
    rows, votes = learner.fits[2]
    by_row = dict(zip(rows.tolist(), votes.tolist()))
    assert by_row[8] == [-1, -1, CLASSES.index("neu")] and by_row[2] == [CLASSES.index("neu"), -1, -1]
    assert by_row[5] == [CLASSES.index("hap"), CLASSES.index("sad"), -1]
    pool = json.loads((tmp_path / "pool.json").read_text())
    assert {d["id"]: d["label"] for d in pool["labelled"]}["u5"] == ["E2:sad", "E1:hap"]
    assert [(p["id"], p["annotator"], p["round"]) for p in pool["pairs"]] == [
        ("u5", "E2", 1), ("u5", "E1", 1), ("u8", "E3", 2), ("u2", "E1", 2)]


def test_rounds_count_clips_and_annotations_and_keep_the_budget_in_annotations(tmp_path):
    oracle = MultiAnnotatorOracle(_votes(missing=(("u8", "E3"),)))   # E3 never labelled u8
    records = _loop(tmp_path, oracle, SpyHeads(_table()), budget=6, rounds=3).run()
    first = records[0]
    assert (first["round_clips"], first["round_annotations"]) == (1, 3)     # one clip, its three votes
    k = 2                                                                   # floor(6 / 3)
    for rec in records[1:]:
        assert rec["round_pairs_asked"] == k and rec["round_annotations"] <= k
    # (u8, E3) was asked and gave no vote: it costs a pair, adds no annotation, and is never asked again
    asked = [p for q in oracle.pair_queries for p in q]
    assert asked.count(("u8", "E3")) == 1 and len(asked) == len(set(asked)) == 6
    assert records[2]["round_annotations"] == 1 and records[2]["round_clips"] == 1     # u2 new; u8 nothing
    assert sum(r["round_annotations"] for r in records[1:]) <= 6                      # Ns, in annotations
    last = records[-1]
    assert last["n_annotations"] == 3 + 5 and last["n_pairs_asked"] == 6
    voted = {i for q in oracle.pair_queries for i, e in q if (i, e) != ("u8", "E3")}
    assert last["n_labelled"] == len(voted | set(records[0]["selected"]))       # a clip counts from its 1st vote


def test_a_killed_run_keeps_the_pairs_it_asked(tmp_path):
    reference = _loop(tmp_path / "ref", MultiAnnotatorOracle(_votes()), SpyHeads(_table()), budget=6,
                      rounds=3).run()
    run = tmp_path / "killed"
    first = MultiAnnotatorOracle(_votes())
    loop = _loop(run, first, SpyHeads(_table()), budget=6, rounds=3)
    loop.run_round(0)
    loop.run_round(1)
    loop.request(2)                   # the oracle answered round 2, then the process died before training
    asked_before = json.loads((run / "pool.json").read_text())["pairs"]
    assert len(asked_before) == 4
    second = MultiAnnotatorOracle(_votes())
    ids = [f"u{n}" for n in range(N_POOL)]
    resumed = _loop(run, second, SpyHeads(_table()), LabelPool.open(run / "pool.json", ids, second),
                    budget=6, rounds=3).run()
    assert [r["selected"] for r in resumed] == [r["selected"] for r in reference]
    assert [r.get("selected_annotators") for r in resumed] == [r.get("selected_annotators") for r in reference]
    assert [p for q in second.pair_queries for p in q] == [(i, a) for i, a in zip(
        reference[3]["selected"], reference[3]["selected_annotators"])]          # only round 3 is asked anew
    assert json.loads((run / "pool.json").read_text())["pairs"][:4] == asked_before   # nothing lost
    assert [r["n_annotations"] for r in resumed] == [r["n_annotations"] for r in reference]


def test_a_finished_round_whose_pairs_left_the_pool_is_refused(tmp_path):
    from after.errors import StateFileError
    oracle = MultiAnnotatorOracle(_votes())
    _loop(tmp_path, oracle, SpyHeads(_table())).run()
    state = json.loads((tmp_path / "pool.json").read_text())
    state["pairs"] = state["pairs"][:1]
    state["labelled"] = [d if d["id"] != "u5" else {**d, "label": ["E2:sad"]} for d in state["labelled"]
                         if d["id"] not in ("u8", "u2")]
    (tmp_path / "pool.json").write_text(json.dumps(state))
    ids = [f"u{n}" for n in range(N_POOL)]
    with pytest.raises(StateFileError, match="lacks the labels"):
        _loop(tmp_path, oracle, SpyHeads(_table()), LabelPool.open(tmp_path / "pool.json", ids, oracle)).run()


def test_clip_level_strategies_still_ask_every_annotator(tmp_path):
    oracle = MultiAnnotatorOracle(_votes())
    loop = _loop(tmp_path, oracle, SpyHeads(_table()))
    loop = ActiveLearningLoop(loop.learner, loop.pool, loop.data,
                              LoopConfig(strategy="group_entropy", init="random", init_fraction=0.01, budget=4,
                                         rounds=2), tmp_path)
    records = loop.run()
    assert oracle.pair_queries == [] and [len(q) for q in oracle.queries] == [1, 2, 2]
    assert all("selected_annotators" not in r for r in records)
    assert records[-1]["n_annotations"] == 3 * 5


# ---------------------------------------------------------------- the pieces
def test_select_pairs_takes_the_top_open_pairs_and_breaks_ties_at_random():
    h = np.array([[0.1, 0.9], [0.8, 0.9], [0.5, 0.2]])
    open_ = np.array([[True, True], [True, False], [True, True]])
    clips, who = select_pairs(h, open_, 3, np.random.default_rng(0))
    assert list(zip(clips.tolist(), who.tolist())) == [(0, 1), (1, 0), (2, 0)]
    ties = np.ones((4, 2))
    firsts = {tuple(np.stack(select_pairs(ties, ties > 0, 1, np.random.default_rng(s))).ravel()) for s in range(20)}
    assert len(firsts) > 1                                  # not the row order
    assert select_pairs(h, np.zeros_like(open_), 2, np.random.default_rng(0))[0].size == 0
    np.testing.assert_allclose(pair_entropies(np.array([[[0.5, 0.5], [1.0, 0.0]]])), [[np.log(2), 0.0]])


def test_the_pool_asks_a_pair_once_and_keeps_it_across_a_reload(tmp_path):
    oracle = MultiAnnotatorOracle({"a": ["E1:ang", "E2:sad;neu"], "b": ["E1:hap"]})
    pool = LabelPool(["a", "b"], oracle, path=tmp_path / "pool.json")
    assert pool.label_pairs([("a", "E2"), ("b", "E2")], round=1) == {("a", "E2"): "sad;neu", ("b", "E2"): None}
    assert pool.labelled_ids() == ["a"] and pool.labels_for(["a"]) == [("E2:sad;neu",)]
    with pytest.raises(PoolError, match="already asked"):
        pool.label_pairs([("b", "E2")], round=2)
    with pytest.raises(PoolError, match="single annotators"):
        pool.label(["b"], round=2)
    again = LabelPool.load(tmp_path / "pool.json", oracle)
    assert again.pair_asked("b", "E2") and not again.pair_asked("b", "E1")
    again.label_pairs([("a", "E1")], round=2)
    assert again.labels_for(["a"]) == [("E2:sad;neu", "E1:ang")] and again.round_of("a") == 1
    assert [p.annotator for p in again.asked_pairs()] == ["E2", "E2", "E1"]


def test_pair_queries_need_votes_keyed_by_evaluator():
    with pytest.raises(ValueError, match="names no evaluator"):
        MultiAnnotatorOracle({"a": ["ang", "sad"]}).query_pairs([("a", "E1")])


def test_an_oracle_without_pairs_is_refused_by_name(tmp_path):
    from after.al.oracles import SimulatedOracle
    pool = LabelPool(["a"], SimulatedOracle({"a": "ang"}))
    with pytest.raises(PoolError, match="query_pairs"):
        pool.label_pairs([("a", "E1")], round=1)
