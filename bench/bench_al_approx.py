"""The selection effect of the archive-scale approximations (ALPs' sampled k-means, BADGE's sampled
seeding, BatchBALD's top-BALD pre-filter), and a check that the exact fast paths (lazy CoreSet) pick what the full computations pick, on the round benchmark's pool.

The pool is built as in ``bench_al_round.py`` (whisper-base-shaped synthetic arrays with ``--synthetic``,
else the cached whisper-base embeddings of the shared corpora), the head is trained on ``--labelled``
random clips, and the unlabelled pool is scored once. Then, for k picks:

- ALPs: the exact k-means (``sample=0``) with two seeds (their overlap is the noise floor of k-means
  itself) against the sampled k-means (``sample`` rows, ``refine`` Lloyd iterations on all rows). Printed:
  CPU seconds, the share of picks shared with the exact run of the same seed, and the coverage cost of
  the picks (mean squared distance from every candidate's normalised surprisal to its nearest pick; lower
  covers the pool better).
- BADGE: the exact k-means++ seeding (``sample=0``, two seeds) against the seeding on ``--badge-sample``
  random candidates plus the largest gradient norm. Quality: the k-means++ objective of the picks (mean
  squared distance from every candidate's gradient embedding to its nearest pick; lower is better).
- BatchBALD: the exact greedy (``sample=0``, two seeds: its sampled joint entropies are the noise) against
  the greedy on the ``--batchbald-sample`` candidates with the largest BALD scores, and the merged
  configurations against none (``merge_tol=0``). Quality: the batch's joint mutual information I[y_B; w],
  estimated apart from the greedy (``joint_mutual_information``; at most log T) for its first 10, 20, 50
  and all picks, beside top-k BALD and random picks; the greedy's own sum of gains (which keeps adding
  sampling noise once the batch saturates log T); the mean BALD score of the picks.
- CoreSet: the lazy greedy against the full update (``lazy=False``): CPU seconds and whether the picks
  are identical.

Run: cd bench && OMP_NUM_THREADS=1 ../.venv/bin/python bench_al_approx.py --pool 20000 --labelled 2000 --k 500 --synthetic --sample 4000
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from after.al.base import PoolView
from after.al.base import bald_scores
from after.al.batchbald import BatchBALD, joint_mutual_information
from after.al.loop import badge_residuals, class_surprisal
from after.al.strategies import ALPs, BADGE, CoreSet, _Factored, min_squared_distance
from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner
from bench_al_round import features, synthetic


def timed(fn):
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def coverage(s: np.ndarray, picks: np.ndarray) -> float:
    u = s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)
    return float(min_squared_distance(u, u[picks]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=20_000)
    ap.add_argument("--labelled", type=int, default=2000)
    ap.add_argument("--k", type=int, default=500)
    ap.add_argument("--sample", type=int, default=4000, help="ALPs' sample (the default 20000 is 1/5 of 100,000)")
    ap.add_argument("--refine", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--skip-coreset", action="store_true")
    ap.add_argument("--methods", default="alps,badge,batchbald,coreset")
    ap.add_argument("--badge-sample", type=int, default=20_000)
    ap.add_argument("--batchbald-sample", type=int, default=20_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x, y, source = (synthetic if args.synthetic else features)(args.pool + 1000, rng)
    learner = EmbeddingLearner(x, HeadConfig(), 4, seed=0, norm_idx=np.arange(args.pool))
    del x
    lab = rng.permutation(args.pool)[:args.labelled]
    unl = np.setdiff1d(np.arange(args.pool), lab)
    val = np.arange(args.pool, args.pool + 1000)
    learner.fit(lab, y[lab], val, y[val])
    methods = args.methods.split(",")
    print(f"pool {args.pool} ({source}), {len(unl)} candidates, k {args.k}; CPU seconds")
    if "badge" in methods:
        h, logits = learner.penultimate_and_logits(unl)
        compare_badge(PoolView(penultimate=h, residuals=badge_residuals(logits)), args)
    if "batchbald" in methods:
        compare_batchbald(PoolView(mc_probs=learner.predict_mc(unl, 20, seed=1)), args)
    if "alps" in methods:
        compare_alps(class_surprisal(learner.predict_proba(unl)), args)
    if "coreset" in methods and not args.skip_coreset:
        compare_coreset(learner, unl, lab, args)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return len(set(a.tolist()) & set(b.tolist())) / len(a)


def badge_cost(view: PoolView, picks: np.ndarray) -> float:
    """k-means++ objective: mean squared gradient-embedding distance to the nearest pick."""
    dist = _Factored(view.penultimate, view.residuals)
    best = np.full(view.penultimate.shape[0], np.inf)
    for j in picks:
        np.minimum(best, dist.to(int(j)), out=best)
    return float(best.mean())


def compare_badge(view: PoolView, args) -> None:
    exact = {}
    for seed in range(2):
        exact[seed], t = timed(lambda: BADGE(sample=0).select(view, args.k, np.random.default_rng(seed)).indices)
        print(f"  BADGE exact seed {seed}: {t:6.2f} s, cost {badge_cost(view, exact[seed]):.4e}"
              + (f", overlap with exact seed 0 {overlap(exact[seed], exact[0]):.3f}" if seed else ""))
    for seed in range(2):
        got, t = timed(lambda: BADGE(sample=args.badge_sample).select(view, args.k, np.random.default_rng(seed)).indices)
        print(f"  BADGE sample {args.badge_sample} seed {seed}: {t:6.2f} s, cost {badge_cost(view, got):.4e}, "
              f"overlap with exact (same seed) {overlap(got, exact[seed]):.3f}", flush=True)


def compare_batchbald(view: PoolView, args) -> None:
    bald = bald_scores(view.mc_probs)
    t = view.mc_probs.shape[2]

    def quality(sel) -> str:
        # I[y_B; w] of the first 10, 20, 50 and all picks, estimated apart from the greedy (at most log T);
        # the greedy's own sum of gains is printed too: after saturation it adds up sampling noise
        info = [joint_mutual_information(view.mc_probs, sel.indices[:j]) for j in (10, 20, 50, len(sel.indices))]
        return (f"I[y_B; w] first 10/20/50/all {'/'.join(f'{v:.3f}' for v in info)} of log {t} = {np.log(t):.3f}; "
                f"sum of gains {sel.scores.sum():.2f}; mean BALD {bald[sel.indices].mean():.4f}")

    exact = {}
    for seed in range(2):
        sel, s = timed(lambda: BatchBALD(sample=0).select(view, args.k, np.random.default_rng(seed)))
        exact[seed] = sel.indices
        print(f"  BatchBALD exact seed {seed}: {s:6.2f} s, {quality(sel)}"
              + (f", overlap with exact seed 0 {overlap(exact[seed], exact[0]):.3f}" if seed else ""), flush=True)
    for seed in range(2):
        sel, s = timed(lambda: BatchBALD(sample=args.batchbald_sample).select(view, args.k, np.random.default_rng(seed)))
        print(f"  BatchBALD top {args.batchbald_sample} seed {seed}: {s:6.2f} s, {quality(sel)}, "
              f"overlap with exact (same seed) {overlap(sel.indices, exact[seed]):.3f}", flush=True)
    sel, s = timed(lambda: BatchBALD(merge_tol=0).select(view, args.k, np.random.default_rng(0)))
    merged = BatchBALD().select(view, args.k, np.random.default_rng(0))
    print(f"  BatchBALD top {args.batchbald_sample} seed 0 without merging (merge_tol 0): {s:6.2f} s, picks identical "
          f"to merged: {sel.indices.tolist() == merged.indices.tolist()}, largest gain difference "
          f"{np.abs(sel.scores - merged.scores).max():.2e}", flush=True)
    top = np.argsort(-bald, kind="stable")[:args.k]
    rand = np.random.default_rng(0).choice(len(bald), args.k, replace=False)
    for name, picks in (("top-k BALD", top), ("random", rand)):
        info = [joint_mutual_information(view.mc_probs, picks[:j]) for j in (10, 20, 50, args.k)]
        print(f"  {name}: I[y_B; w] first 10/20/50/all {'/'.join(f'{v:.3f}' for v in info)}", flush=True)


def compare_alps(s: np.ndarray, args) -> None:
    exact = {}
    for seed in range(args.seeds):
        exact[seed], t = timed(lambda: ALPs(sample=0).select(PoolView(surprisal=s), args.k,
                                                              np.random.default_rng(seed)).indices)
        print(f"  ALPs exact      seed {seed}: {t:6.2f} s, coverage {coverage(s, exact[seed]):.4e}"
              + (f", overlap with exact seed 0 {len(set(exact[seed]) & set(exact[0])) / args.k:.3f}" if seed else ""))
    for seed in range(args.seeds):
        got, t = timed(lambda: ALPs(sample=args.sample, refine=args.refine).select(
            PoolView(surprisal=s), args.k, np.random.default_rng(seed)).indices)
        print(f"  ALPs sample {args.sample} refine {args.refine} seed {seed}: {t:6.2f} s, coverage {coverage(s, got):.4e}, "
              f"overlap with exact (same seed) {len(set(got) & set(exact[seed])) / args.k:.3f}")


def compare_coreset(learner, unl: np.ndarray, lab: np.ndarray, args) -> None:
    view = PoolView(embeddings=learner.embed(unl), labelled_embeddings=learner.embed(lab))
    lazy, t_lazy = timed(lambda: CoreSet().select(view, args.k, np.random.default_rng(0)).indices)
    full, t_full = timed(lambda: CoreSet(lazy=False).select(view, args.k, np.random.default_rng(0)).indices)
    print(f"  CoreSet lazy {t_lazy:6.2f} s, full update {t_full:6.2f} s, identical picks: "
          f"{lazy.tolist() == full.tolist()} ({len(set(lazy) & set(full))} of {args.k} shared)")


if __name__ == "__main__":
    main()
