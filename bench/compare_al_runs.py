"""Two runs of `bench_al_merged.py` (same splits and seeds, two code versions) compared run by run.

For each combination: mean AULC of each run, the mean and mean absolute per-seed shift, and the first run's
seed-to-seed sd; then the mean |shift| over every (combination, seed) against the mean sd. Used to measure how
much of the seed spread is the head's own training noise (bench/RESULTS.md, issue 4 tables).

Run: python bench/compare_al_runs.py OLD/results.json NEW/results.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    args = ap.parse_args()
    old = json.load(open(args.old))["runs"]
    new = json.load(open(args.new))["runs"]
    shifts, sds = [], []
    print("| combination | AULC old | AULC new | mean shift | mean abs shift per run | seed sd (old) |")
    print("|---|---|---|---|---|---|")
    for combo in (c for c in old if c in new):
        o = {r["seed"]: r["aulc"] for r in old[combo]}
        n = {r["seed"]: r["aulc"] for r in new[combo]}
        seeds = sorted(set(o) & set(n))
        d = np.array([n[s] - o[s] for s in seeds])
        sd = float(np.std([o[s] for s in seeds], ddof=1))
        shifts += list(np.abs(d))
        sds.append(sd)
        print(f"| {combo} | {np.mean([o[s] for s in seeds]):.3f} | {np.mean([n[s] for s in seeds]):.3f} | "
              f"{d.mean():+.4f} | {np.abs(d).mean():.4f} | {sd:.4f} |")
    print(f"\nruns compared: {len(shifts)}; mean |shift| per run {np.mean(shifts):.4f}, max {np.max(shifts):.4f}; "
          f"mean seed sd {np.mean(sds):.4f}")


if __name__ == "__main__":
    main()
