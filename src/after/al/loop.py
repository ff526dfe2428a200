"""Algorithm 1 of AFTER: cold start, then tau rounds of acquire -> label -> fine-tune -> evaluate.

The loop is numpy-only orchestration. It drives a *learner* (anything with the methods of
:class:`~after.training.learners.Learner`, plus ``save_state``/``load_state`` for resuming) and a
:class:`~after.al.pool.LabelPool`, and writes one JSON line per finished round to ``rounds.jsonl``.

Resuming: every step leaves a file behind before the next begins, so a run killed at any moment (kill -9)
restarts from the last finished round with the same selections and no label lost:

1. ``selection_<r>.json``: the ids chosen in round r and their scores, written before the oracle is asked;
2. ``pool.json``: the labels, written by the pool as soon as the oracle answers;
3. ``learner/round_<r>``: the learner after round r's fit;
4. a line in ``rounds.jsonl``: the round is finished.

Selection randomness comes from ``np.random.default_rng([seed, round])``, so a resumed round draws exactly
what the uninterrupted one would have drawn.

Pair-wise rounds: with ``individual_entropy`` (the paper's Eq. 13, a key of
:data:`after.al.annotators.PAIR_SCORES`) every round after the cold start asks k (clip, annotator) pairs,
and the oracle gives only those annotators' votes (:meth:`LabelPool.label_pairs`); ``selection_<r>.json``
then also names each pair's annotator. The rules (a round of k is k pairs, a clip may be chosen again for
another annotator, the cold start asks everyone) are in :mod:`after.al.annotators`. Every round records the
clips labelled and the annotations (votes) bought, in total and in that round.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from after.al.annotators import PAIR_SCORES, select_pairs, soft_labels, split_vote
from after.al.coldstart import COLD_STARTS, ColdStart
from after.al.pool import LabelPool, PoolLabel
from after.al.records import RoundLog
from after.al.strategies import STRATEGIES, PoolView, Strategy
from after.atomic import atomic_write_text
from after.config import require
from after.errors import AfterError, StateFileError
from after.training.losses import NonFiniteLossError
from after.evaluation.metrics import macro_f1, unweighted_accuracy, weighted_accuracy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopConfig:
    """Algorithm 1's knobs. ``budget`` is Ns: a fraction of the pool (<= 1) or a clip count (> 1)."""

    strategy: str = "entropy"        # acquisition, a key of STRATEGIES
    init: str = "kmeans"             # cold start, a key of COLD_STARTS
    init_fraction: float = 0.01      # the paper's 1 % cold start
    budget: float = 0.2              # Ns, labels acquired after the cold start
    rounds: int = 5                  # tau; k = floor(Ns / tau) per round
    schedule: tuple[float, ...] = ()  # optional cumulative labelled fractions per round (overrides budget/rounds)
    seed: int = 0
    mc_samples: int = 20             # T for BALD / BatchBALD
    warm_start: bool = True          # paper: continue from the previous round; False: reset() before each fit
    soft_labels: bool = False        # train on the annotators' vote distribution (paper Eq. 17)
    strategy_args: dict = field(default_factory=dict)   # keyword arguments of the strategy's class
    init_args: dict = field(default_factory=dict)       # keyword arguments of the cold start's class

    def __post_init__(self) -> None:
        require(0 < self.init_fraction <= 1, "init_fraction", self.init_fraction, "must be in (0, 1]")
        require(self.budget > 0 and (self.budget <= 1 or float(self.budget).is_integer()), "budget", self.budget,
                "must be a fraction of the pool in (0, 1] or a whole number of clips")
        require(self.rounds >= 1, "rounds", self.rounds, "must be >= 1")
        require(all(0 < f <= 1 for f in self.schedule), "schedule", list(self.schedule),
                "must hold labelled fractions in (0, 1]")
        require(self.seed >= 0, "seed", self.seed, "must be >= 0")
        require(self.mc_samples >= 1, "mc_samples", self.mc_samples, "must be >= 1")


class ComponentArgsError(AfterError, ValueError):
    """``strategy_args`` / ``init_args`` that the chosen class does not take."""


def _make(registry: dict, name: str, args: dict, key: str):
    import inspect
    cls = registry[name]
    try:
        return cls(**dict(args))
    except TypeError as exc:
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise ComponentArgsError(f"{key} {dict(args)} does not fit {name!r} ({exc}); it takes "
                                 f"{', '.join(params) or 'no arguments'}") from None


def make_strategy(cfg: LoopConfig) -> Strategy:
    """The strategy named in ``cfg``, built with ``cfg.strategy_args``."""
    return _make(STRATEGIES, cfg.strategy, cfg.strategy_args, "strategy_args")


def make_cold_start(cfg: LoopConfig) -> ColdStart:
    """The cold start named in ``cfg``, built with ``cfg.init_args``."""
    return _make(COLD_STARTS, cfg.init, cfg.init_args, "init_args")


@dataclass
class LoopData:
    """Row-aligned inputs, in the learner's index space.

    pool_rows: [n] learner rows of the candidate clips, in the order of ``pool.ids``.
    init_features: [n, d] what the cold start clusters (the paper: CNN-encoder features).
    val_rows/test_rows: learner rows with their integer labels ``y_val``/``y_test`` (classes index).
    surprisal: optional ``f(rows) -> [n, s]`` for ALPs; by default the learner's class surprisal.
    no_test_reason: with no test rows, every round records null test figures and this reason.
    strata: optional ``[n]`` group of each candidate (e.g. its corpus). Given, every round's k is shared
    out over the groups in proportion to their unlabelled clips, and the cold start and the acquisition
    choose within each group: on a merged multi-corpus pool, uncertainty alone can starve a corpus.
    """

    pool_rows: np.ndarray
    init_features: np.ndarray
    val_rows: np.ndarray
    y_val: np.ndarray
    test_rows: np.ndarray
    y_test: np.ndarray
    classes: Sequence[str]
    surprisal: Callable[[np.ndarray], np.ndarray] | None = None
    strata: Sequence[str] | None = None
    no_test_reason: str = ""      # why there are no test rows (recorded beside the null test figures)


def proportional_quotas(sizes: Sequence[int], k: int) -> list[int]:
    """Split ``k`` over groups of ``sizes`` in proportion (largest remainder), never above a group's size."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if k > sizes.sum():
        raise ValueError(f"cannot choose {k} from {int(sizes.sum())} clips")
    exact = k * sizes / sizes.sum()
    quota = np.floor(exact).astype(np.int64)
    for g in np.argsort(-(exact - quota), kind="stable"):
        if quota.sum() == k:
            break
        if quota[g] < sizes[g]:
            quota[g] += 1
    while quota.sum() < k:       # rounding met a full group: fill the others in size order
        g = int(np.argmax(sizes - quota))
        quota[g] += 1
    return quota.tolist()


def round_sizes(n_pool: int, cfg: LoopConfig) -> list[int]:
    """Clips labelled in each round, round 0 being the cold start: ``[n_init, k, k, ...]``."""
    n_init = max(1, math.ceil(cfg.init_fraction * n_pool))
    if cfg.schedule:
        targets = [max(n_init, min(n_pool, round(f * n_pool))) for f in cfg.schedule]
        if any(b <= a for a, b in zip([n_init, *targets], targets)):
            raise ValueError(f"schedule {cfg.schedule} must grow strictly from the cold start "
                             f"({n_init} of {n_pool} clips)")
        return [n_init] + [b - a for a, b in zip([n_init, *targets], targets)]
    if cfg.rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {cfg.rounds}")
    ns = int(cfg.budget if cfg.budget > 1 else math.floor(cfg.budget * n_pool))
    ns = min(ns, n_pool - n_init)
    k = ns // cfg.rounds
    if k < 1:
        raise ValueError(f"budget {cfg.budget} gives {ns} clips for {cfg.rounds} rounds (k = floor(Ns / tau) = 0); "
                         "raise the budget or lower the rounds")
    return [n_init] + [k] * cfg.rounds


def majority_vote(share: np.ndarray, rng: np.random.Generator | None) -> int:
    """The class with the most votes; a tie is broken by ``rng`` (by class order only without one)."""
    best = np.flatnonzero(share >= share.max() - 1e-12)
    return int(best[0] if best.size == 1 or rng is None else rng.choice(best))


def to_targets(labels: Sequence[PoolLabel], classes: Sequence[str], soft: bool,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """Pool labels -> int ``[n]`` (hard; vote ties broken by ``rng``) or float ``[n, c]`` (soft)."""
    index = {c: i for i, c in enumerate(classes)}
    if soft:
        rows = []
        for lab in labels:
            if isinstance(lab, str):
                rows.append(soft_labels([[lab]], classes)[0])
            elif isinstance(lab, tuple):
                rows.append(soft_labels([list(lab)], classes)[0])
            else:
                rows.append(np.array([lab.get(c, 0.0) for c in classes], dtype=np.float64))
        return np.asarray(rows, dtype=np.float32)
    out = []
    for lab in labels:
        if isinstance(lab, tuple):   # several annotators, hard training: the majority vote
            lab = classes[majority_vote(soft_labels([list(lab)], classes)[0], rng)]
        elif not isinstance(lab, str):
            lab = classes[majority_vote(np.array([lab.get(c, 0.0) for c in classes]), rng)]
        if lab not in index:
            raise ValueError(f"label {lab!r} is not one of the classes {list(classes)}")
        out.append(index[lab])
    return np.asarray(out, dtype=np.int64)


def vote_matrix(labels: Sequence[PoolLabel], classes: Sequence[str], n_slots: int,
                slots: dict[str, int] | None = None) -> np.ndarray:
    """Votes per annotator head: int ``[n, n_slots]`` (class index, -1 where a clip has no such vote).

    A vote keyed by its evaluator (``"C-E2:sad"``) goes to that evaluator's head: ``slots`` maps evaluator
    ids to heads and is extended, in the order evaluators first appear, by the labels already given. A vote
    with no evaluator id goes to the head of its position. An evaluator's first label inside the classes is
    their vote (a head learns one class per clip).
    """
    index = {c: i for i, c in enumerate(classes)}
    slots = {} if slots is None else slots
    out = np.full((len(labels), n_slots), -1, dtype=np.int64)
    for row, lab in enumerate(labels):
        votes = (lab,) if isinstance(lab, str) else lab if isinstance(lab, tuple) else (max(lab, key=lab.get),)
        for position, vote in enumerate(votes):
            evaluator, names = split_vote(vote)
            if evaluator is None:
                slot = position
            else:
                if evaluator not in slots and len(slots) >= n_slots:
                    raise AnnotatorSlotsError(
                        f"evaluator {evaluator!r} would need annotator head {len(slots) + 1}, but the learner has "
                        f"{n_slots} (learner.n_annotators); raise learner.n_annotators to the number of "
                        "evaluators in the pool")
                slot = slots.setdefault(evaluator, len(slots))
            inside = [index[v] for v in names if v in index]   # a vote outside the classes counts as none
            if slot < n_slots and inside:
                out[row, slot] = inside[0]
    return out


class AnnotatorSlotsError(AfterError, ValueError):
    """More distinct evaluators than annotator heads."""


def count_annotations(labels: Sequence[PoolLabel]) -> int:
    """Annotations bought: one per clip for a hard label, one per evaluator vote for a tuple of votes."""
    return sum(len(lab) if isinstance(lab, tuple) else 1 for lab in labels)


def _annotators_of(record: dict) -> list[str]:
    """The annotator asked per selected clip of a round record ("" where every annotator was asked)."""
    return record.get("selected_annotators") or [""] * len(record.get("selected", []))


def evaluate(learner, rows: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """UA / WA / macro-F1 on ``rows``; ``None`` each when there are no rows (nothing to measure)."""
    if len(rows) == 0:
        return {"ua": None, "wa": None, "f1": None}
    pred = learner.predict_proba(rows).argmax(1)
    return {"ua": unweighted_accuracy(y, pred), "wa": weighted_accuracy(y, pred), "f1": macro_f1(y, pred)}


def build_view(strategy: Strategy, learner, data: LoopData, unl_rows: np.ndarray, lab_rows: np.ndarray,
               cfg: LoopConfig, round_: int) -> PoolView:
    """Compute only what ``strategy.requires``: the loop never asks which strategy it is."""
    need = strategy.requires
    arrays: dict[str, np.ndarray] = {}
    if "probs" in need:
        arrays["probs"] = learner.predict_proba(unl_rows)
    if "mc_probs" in need:
        arrays["mc_probs"] = learner.predict_mc(unl_rows, cfg.mc_samples, seed=cfg.seed * 10_007 + round_)
    if "embeddings" in need:
        arrays["embeddings"] = learner.embed(unl_rows)
    if "labelled_embeddings" in need:
        arrays["labelled_embeddings"] = learner.embed(lab_rows)
    if "grad_embeddings" in need:
        if hasattr(learner, "penultimate_and_logits"):   # the factors: no [n, c*H] array
            h, logits = learner.penultimate_and_logits(unl_rows)
            arrays["penultimate"], arrays["residuals"] = h, badge_residuals(logits)
        else:
            arrays["grad_embeddings"] = learner.grad_embed(unl_rows)
    if "surprisal" in need:
        arrays["surprisal"] = (data.surprisal(unl_rows) if data.surprisal is not None
                               else class_surprisal(learner.predict_proba(unl_rows)))
    if "annotator_probs" in need:
        if not hasattr(learner, "predict_annotators"):
            raise ValueError(f"strategy {cfg.strategy!r} needs per-annotator predictions; "
                             "use a learner with one head per annotator")
        arrays["annotator_probs"] = learner.predict_annotators(unl_rows)
    return PoolView(n_candidates=len(unl_rows), **arrays)


def badge_residuals(logits: np.ndarray) -> np.ndarray:
    """[n, c] p - onehot(argmax p): the class factor of BADGE's gradient embedding."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(p)), p.argmax(axis=1)] -= 1.0
    return p.astype(np.float32)


def class_surprisal(probs: np.ndarray) -> np.ndarray:
    """ALPs adapted to speech: a speech encoder has no masked-LM head, so the surprisal embedding of a clip
    is the classifier's surprisal of every class, ``-log p(c | x)`` ``[n, c]`` (clipped at 1e-6)."""
    return -np.log(np.clip(probs, 1e-6, 1.0))


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj))


class ActiveLearningLoop:
    """One run of Algorithm 1 in ``run_dir``; :meth:`run` resumes whatever was finished before."""

    def __init__(self, learner, pool: LabelPool, data: LoopData, cfg: LoopConfig, run_dir: str | Path):
        if cfg.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {cfg.strategy!r}; choose one of {sorted(STRATEGIES)}")
        if cfg.init not in COLD_STARTS:
            raise ValueError(f"unknown init {cfg.init!r}; choose one of {sorted(COLD_STARTS)}")
        if len(data.pool_rows) != len(pool.ids):
            raise ValueError(f"{len(data.pool_rows)} pool rows for a pool of {len(pool.ids)} ids")
        self.learner, self.pool, self.data, self.cfg = learner, pool, data, cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log = RoundLog(self.run_dir / "rounds.jsonl")
        self._annotators: dict[int, list[str]] = {}      # round -> the annotator asked per pick (pair-wise)
        self.strategy = make_strategy(cfg)
        self.cold_start = make_cold_start(cfg)
        self.sizes = round_sizes(len(pool.ids), cfg)
        self._row_of = dict(zip(pool.ids, np.asarray(data.pool_rows)))
        self._pos = {i: p for p, i in enumerate(pool.ids)}
        self.pairwise = cfg.strategy in PAIR_SCORES      # Eq. 13: one (clip, annotator) pair per acquisition
        if self.pairwise and not getattr(learner, "learns_from_votes", False):
            raise ValueError(f"strategy {cfg.strategy!r} asks single annotators; use a learner with one head per "
                             "annotator (learner.kind: annotator_heads)")
        if data.strata is not None and len(data.strata) != len(pool.ids):
            raise ValueError(f"{len(data.strata)} strata for a pool of {len(pool.ids)} ids")

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        return np.asarray([self._row_of[i] for i in ids], dtype=np.int64)

    def run(self, progress: Callable[[int, int], None] | None = None) -> list[dict]:
        """Run (or resume) every round; returns all round records."""
        done = self.log.records()
        self._check_pool_holds(done)
        if done:
            self.learner.load_state(self._state_dir(done[-1]["round"]))
            log.info("resuming %s after round %d", self.run_dir, done[-1]["round"])
        for r in range(len(done), len(self.sizes)):
            done.append(self.run_round(r))
            if progress:
                progress(r + 1, len(self.sizes))
        return done

    def _check_pool_holds(self, done: list[dict]) -> None:
        """Every clip selected in a finished round must be labelled in the pool: a pool state file that was
        deleted or replaced is an error, never an empty pool that silently restarts the labelling."""
        missing = [i for rec in done for i, a in zip(rec.get("selected", []), _annotators_of(rec))
                   if not (self.pool.pair_asked(i, a) if a else self.pool.is_labelled(i) or self.pool.is_skipped(i))]
        if missing:
            where = self.pool.path or "the label pool"
            raise StateFileError(
                f"{where} lacks the labels of {len(missing)} clip(s) selected in the {len(done)} finished round(s) "
                f"of {self.log.path} (e.g. {missing[:3]}); was pool.json deleted or replaced? Restore it, or "
                "start a new run directory")

    def _state_dir(self, r: int) -> Path:
        return self.run_dir / "learner" / f"round_{r}"

    def _select(self, r: int) -> tuple[list[str], list[float], float, float]:
        """The round's selection, reused from ``selection_<r>.json`` when a killed run left one."""
        path = self.run_dir / f"selection_{r}.json"
        if path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                self._annotators[r] = list(saved.get("annotators", []))
                return saved["ids"], saved["scores"], saved["seconds_score"], saved["seconds_select"]
            except (ValueError, KeyError, TypeError) as exc:
                raise StateFileError(
                    f"{path}: the saved selection of round {r} does not parse ({exc.__class__.__name__}: {exc}). "
                    "Delete it and run the same command again: the selection is drawn again from the same seed "
                    "(clips already labelled keep their labels)") from None
        rng = np.random.default_rng([self.cfg.seed, r])
        if self.pairwise and r > 0:
            return self._select_pairs(r, path, rng)
        unl_ids = self.pool.unlabelled_ids()
        k = min(self.sizes[r], len(unl_ids))
        ids, scores, t_score, t_select = [], [], 0.0, 0.0
        for members, quota in self._shares(unl_ids, np.ones(len(unl_ids), dtype=np.int64), k):
            if quota == 0:
                continue
            got, sc, ts, tl = self._choose(r, [unl_ids[p] for p in members], quota, rng)
            ids += got
            scores += sc
            t_score += ts
            t_select += tl
        _write_json(path, {"ids": ids, "scores": scores, "seconds_score": t_score, "seconds_select": t_select})
        return ids, scores, t_score, t_select

    def _shares(self, ids: list[str], weights: np.ndarray, k: int) -> list[tuple[np.ndarray, int]]:
        """Positions in ``ids`` per stratum (e.g. corpus, in sorted order) with its share of ``k`` in proportion
        to its summed ``weights`` (open clips or open pairs); all positions and ``k`` without strata."""
        if self.data.strata is None:
            return [(np.arange(len(ids)), k)]
        stratum = np.asarray([str(self.data.strata[self._pos[i]]) for i in ids])
        members = [np.flatnonzero(stratum == g) for g in sorted(set(stratum.tolist()))]
        return list(zip(members, proportional_quotas([int(weights[m].sum()) for m in members], k)))

    def _evaluators(self) -> dict[int, str]:
        """Trained annotator head -> the evaluator id it learns (heads are keyed by evaluator, vote_matrix)."""
        slots: dict[str, int] = {}
        vote_matrix(self.pool.labels_for(self.pool.labelled_ids()), self.data.classes, len(self.learner.heads), slots)
        trained = np.asarray(self.learner.trained, dtype=bool)
        return {h: e for e, h in slots.items() if trained[h]}

    def _select_pairs(self, r: int, path: Path, rng: np.random.Generator):
        """Round ``r``'s k (clip, annotator) pairs of the highest pair score (Eq. 13), among pairs never
        asked and annotators whose head has votes; with strata, k is shared by their open clips."""
        t0 = time.perf_counter()
        evaluators = self._evaluators()
        heads = sorted(evaluators)                        # predict_annotators' columns: the trained heads
        active = [int(h) for h in np.flatnonzero(self.learner.trained)]
        if not heads or active != heads:
            raise ValueError(f"round {r}: the trained annotator heads {active} are not the evaluators that voted "
                             f"{sorted(evaluators.values())}; individual entropy asks only annotators with votes")
        names = [evaluators[h] for h in heads]
        cand = [i for i in self.pool.ids if not self.pool.is_skipped(i)]
        open_ = np.array([[not self.pool.pair_asked(i, a) for a in names] for i in cand], dtype=bool).reshape(
            len(cand), len(names))
        keep = open_.any(axis=1)
        cand, open_ = [i for i, o in zip(cand, keep) if o], open_[keep]
        k = min(self.sizes[r], int(open_.sum()))
        ids, who, scores, t_select = [], [], [], 0.0
        for members, quota in self._shares(cand, open_.sum(axis=1), k):
            if quota == 0:
                continue
            pair_scores = PAIR_SCORES[self.cfg.strategy](self.learner.predict_annotators(
                self.rows([cand[m] for m in members])))
            t2 = time.perf_counter()
            clips, ann = select_pairs(pair_scores, open_[members], quota, rng)
            t_select += time.perf_counter() - t2
            ids += [cand[members[c]] for c in clips]
            who += [names[a] for a in ann]
            scores += [float(pair_scores[c, a]) for c, a in zip(clips, ann)]
        t_score = time.perf_counter() - t0 - t_select      # the candidates' open pairs and the heads' scores
        self._annotators[r] = who
        _write_json(path, {"ids": ids, "annotators": who, "scores": scores, "seconds_score": t_score,
                           "seconds_select": t_select})
        return ids, scores, t_score, t_select

    def _choose(self, r: int, candidates: list[str], k: int, rng: np.random.Generator):
        """``k`` of ``candidates``: the cold start in round 0, the acquisition after."""
        t0 = time.perf_counter()
        if r == 0:
            feats = self.data.init_features[[self._pos[i] for i in candidates]]
            t1 = time.perf_counter()
            idx = self.cold_start.select(feats, k, rng)
            scores = [0.0] * len(idx)
        else:
            view = build_view(self.strategy, self.learner, self.data, self.rows(candidates),
                              self.rows(self.pool.labelled_ids()), self.cfg, r)
            t1 = time.perf_counter()
            sel = self.strategy.select(view, k, rng)
            idx, scores = sel.indices, [float(v) for v in sel.scores]
        return [candidates[int(i)] for i in idx], scores, t1 - t0, time.perf_counter() - t1

    def _fit(self, r: int, labels: list, labelled: list[str]) -> dict:
        if getattr(self.learner, "learns_from_votes", False):   # one head per annotator: every vote counts
            votes = vote_matrix(labels, self.data.classes, len(self.learner.heads), self._slots)
            return self.learner.fit_votes(self.rows(labelled), votes, self.data.val_rows, self.data.y_val)
        y_train = to_targets(labels, self.data.classes, self.cfg.soft_labels,
                             rng=np.random.default_rng([self.cfg.seed, r, 17]))
        return self.learner.fit(self.rows(labelled), y_train, self.data.val_rows, self.data.y_val)

    def _details(self, r: int, ids: list[str], scores: list[float]) -> dict[str, dict[str, str]]:
        """What a person sees beside each asked clip: rank, score, the model's label and its probability
        (none in the cold start: no model yet, and the cold start gives no score) and the stratum."""
        out = {i: {"round": str(r), "rank": str(k + 1), "score": f"{s:.6g}" if r > 0 else ""}
               for k, (i, s) in enumerate(zip(ids, scores))}
        if r > 0 and ids:
            proba = self.learner.predict_proba(self.rows(ids))
            for i, p in zip(ids, proba):
                out[i].update(predicted=str(self.data.classes[int(p.argmax())]), probability=f"{float(p.max()):.3f}")
        if self.data.strata is not None:
            for i in ids:
                out[i]["stratum"] = str(self.data.strata[self._pos[i]])
        return out

    def request(self, r: int) -> tuple[list[str], list[float], float, float]:
        """Choose round ``r``'s clips and ask the oracle for those still unanswered (without training).

        A file oracle raises :class:`~after.al.oracles.LabelsPending` until people have answered.
        """
        ids, scores, t_score, t_select = self._select(r)
        who = self._annotators.get(r, [])
        if who:      # pair-wise: ask each chosen annotator about their clip, and no one else
            todo = [(i, a) for i, a in zip(ids, who) if not self.pool.pair_asked(i, a)]
        else:
            todo = [i for i in ids if not self.pool.is_labelled(i) and not self.pool.is_skipped(i)]
        if todo and self.pool.wants_details:
            self.pool.describe(self._details(r, ids, scores))
        if who:
            self.pool.label_pairs(todo, round=r)   # LabelsPending passes through, as below
        else:
            self.pool.label(todo, round=r)   # LabelsPending (file oracle) passes through: rerun to resume
        return ids, scores, t_score, t_select

    def _bought(self, r: int, labelled: list[str], labels: list) -> dict:
        """What round ``r`` bought: clips newly labelled and annotations (votes) newly given, and the pairs
        asked one by one so far (pair-wise strategies)."""
        before = self.log.records()
        prev = before[-1] if before else {"n_labelled": 0, "n_annotations": 0}
        out = {"round_clips": len(labelled) - prev["n_labelled"],
               "round_annotations": count_annotations(labels) - prev["n_annotations"]}
        if self.pairwise:
            asked = self.pool.asked_pairs()
            out.update(n_pairs_asked=len(asked), round_pairs_asked=sum(p.round == r for p in asked))
        return out

    def run_round(self, r: int) -> dict:
        ids, scores, t_score, t_select = self.request(r)
        labelled = self.pool.labelled_ids()
        labels = self.pool.labels_for(labelled)
        t0 = time.perf_counter()
        if not self.cfg.warm_start:
            self.learner.reset()
        self._slots: dict[str, int] = {}
        try:
            fit = self._fit(r, labels, labelled)
        except NonFiniteLossError as exc:
            raise NonFiniteLossError(f"round {r}: {exc}; lower the learning rate, check the features for "
                                     "extreme values, or turn off AMP") from None
        t1 = time.perf_counter()
        self.learner.save_state(self._state_dir(r))
        if r > 1:   # keep r and r-1: until round r's record lands, resuming needs r-1's state
            shutil.rmtree(self._state_dir(r - 2), ignore_errors=True)
        val = evaluate(self.learner, self.data.val_rows, self.data.y_val)
        test = evaluate(self.learner, self.data.test_rows, self.data.y_test)
        t2 = time.perf_counter()
        n_val = len(self.data.val_rows)
        no_test = len(self.data.test_rows) == 0
        record = {
            "round": r, "n_labelled": len(labelled), "fraction": len(labelled) / len(self.pool.ids),
            # validation labels are labels too: the share of every label used, pool and validation
            "n_val_labels": n_val, "n_labels_total": len(labelled) + n_val,
            "fraction_with_val": (len(labelled) + n_val) / (len(self.pool.ids) + n_val),
            "n_annotations": count_annotations(labels), "n_skipped": len(self.pool.skipped_ids()),
            **self._bought(r, labelled, labels),
            "strategy": self.cfg.init if r == 0 else self.cfg.strategy, "selected": ids, "scores": scores,
            **({"selected_annotators": self._annotators[r]} if self._annotators.get(r) else {}),
            "val_ua": val["ua"], "val_wa": val["wa"], "val_f1": val["f1"],
            "test_ua": test["ua"], "test_wa": test["wa"], "test_f1": test["f1"],
            **({"test_note": self.data.no_test_reason or "no test clips"} if no_test else {}),
            "fit": {k: v for k, v in fit.items() if isinstance(v, (int, float))},
            "seconds": {"score": t_score, "select": t_select, "train": t1 - t0, "evaluate": t2 - t1},
        }
        self.log.append(record)
        show = lambda v: "-" if v is None else f"{v:.3f}"   # noqa: E731
        log.info("round %d: %d labelled (%.1f%%; %d with validation), val UA %s, test UA %s", r,
                 len(labelled), 100 * record["fraction"], record["n_labels_total"], show(val["ua"]), show(test["ua"]))
        return record
