"""The selection effect of the archive-scale approximation (ALPs' sampled k-means), and a check that the
exact fast paths (lazy CoreSet) pick what the full computations pick, on the round benchmark's pool.

The pool is built as in ``bench_al_round.py`` (whisper-base-shaped synthetic arrays with ``--synthetic``,
else the cached whisper-base embeddings of the shared corpora), the head is trained on ``--labelled``
random clips, and the unlabelled pool is scored once. Then, for k picks:

- ALPs: the exact k-means (``sample=0``) with two seeds (their overlap is the noise floor of k-means
  itself) against the sampled k-means (``sample`` rows, ``refine`` Lloyd iterations on all rows). Printed:
  CPU seconds, the share of picks shared with the exact run of the same seed, and the coverage cost of
  the picks (mean squared distance from every candidate's normalised surprisal to its nearest pick; lower
  covers the pool better).
- CoreSet: the lazy greedy against the full update (``lazy=False``): CPU seconds and whether the picks
  are identical.

Run: cd bench && OMP_NUM_THREADS=1 ../.venv/bin/python bench_al_approx.py --pool 20000 --labelled 2000 --k 500 --synthetic --sample 4000
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from after.al.base import PoolView
from after.al.loop import class_surprisal
from after.al.strategies import ALPs, CoreSet, min_squared_distance
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
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x, y, source = (synthetic if args.synthetic else features)(args.pool + 1000, rng)
    learner = EmbeddingLearner(x, HeadConfig(), 4, seed=0, norm_idx=np.arange(args.pool))
    del x
    lab = rng.permutation(args.pool)[:args.labelled]
    unl = np.setdiff1d(np.arange(args.pool), lab)
    val = np.arange(args.pool, args.pool + 1000)
    learner.fit(lab, y[lab], val, y[val])
    s = class_surprisal(learner.predict_proba(unl))
    print(f"pool {args.pool} ({source}), {len(unl)} candidates, k {args.k}; CPU seconds")
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
    if not args.skip_coreset:
        view = PoolView(embeddings=learner.embed(unl), labelled_embeddings=learner.embed(lab))
        lazy, t_lazy = timed(lambda: CoreSet().select(view, args.k, np.random.default_rng(0)).indices)
        full, t_full = timed(lambda: CoreSet(lazy=False).select(view, args.k, np.random.default_rng(0)).indices)
        print(f"  CoreSet lazy {t_lazy:6.2f} s, full update {t_full:6.2f} s, identical picks: "
              f"{lazy.tolist() == full.tolist()} ({len(set(lazy) & set(full))} of {args.k} shared)")


if __name__ == "__main__":
    main()
