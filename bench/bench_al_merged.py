"""Active learning on a 4-class pool merged from the shared corpora: every acquisition and initialisation.

Pool: angry/happy/neutral/sad from RAVDESS, EmoDB-2s, nEMO and TurEV-DB (3211 clips). For each seed, the
speakers are split anew: 25 % of the speakers are the test set, 10 % of the remaining clips (whole speakers)
validate, the rest is the pool. Features: frozen whisper-base (../shared/models/whisper-base, genuine
OpenAI weights), every layer mean-pooled, cached; the cold start's "layer 0" is Whisper's convolutional
front end before positional embeddings (hidden state 0 adds them, and then encodes the clip's length).
Learner: the EmbeddingLearner (learned layer mix + MLP, Adam, early stopping on validation loss),
warm-started round to round as in the paper, its standardisation fitted on the pool's features only
(no labels; validation and test clips never shape it).

Validation labels are labels: the table reports each milestone's share of the pool and the share of all
labels used (pool + validation).

Each run is Algorithm 1 through :class:`after.al.loop.ActiveLearningLoop` (the same code as `after al`),
cold start 1 %, then rounds up to 2.5, 5, 7.5, 10, 15, 20, 30, 40 % of the pool. Reported: test UA at
1/5/10/20/40 %, at 100 % (the whole pool labelled), AULC of test UA over 1-40 %, and the paired AULC
difference to random + random (mean and std over seeds).

With --stratify, every round's k (and the cold start) is shared out over the four corpora in proportion
to their unlabelled clips, and each strategy chooses within each corpus.

UA values are mean ± std (ddof 0) over seeds; the paired AULC difference uses the sample std (ddof 1).

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_al_merged.py --seeds 5 --out bench/out/al_merged
     OMP_NUM_THREADS=1 .venv/bin/python bench/bench_al_merged.py --seeds 5 --stratify --out bench/out/al_merged_strat
(one thread: the head is tiny, and on a shared 2-core machine OpenMP threads only contend).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from after.data.splits import split_by_group
from after.evaluation.metrics import unweighted_accuracy
from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner
from shared_pool import embeddings, merged_pool, run_loop

SCHEDULE = (0.025, 0.05, 0.075, 0.10, 0.15, 0.20, 0.30, 0.40)
MILESTONES = (0.01, 0.05, 0.10, 0.20, 0.40)
# (init, strategy, init_layer): every acquisition after AFTER's k-means cold start, every cold start
# before entropy, and the control random + random.
COMBOS = [("random", "random", 0)] + [("kmeans", s, 0) for s in (
    "random", "entropy", "least_confidence", "margin", "alps", "bald", "batchbald", "badge", "coreset")] + [
    (i, "entropy", 0) for i in ("random", "dacs", "bmal", "dacs_kcenter", "kernel_herding", "kmeans_per_clip")] + [
    ("kmeans", "entropy", 4)]


def combo_name(init: str, strategy: str, layer: int) -> str:
    return f"{init}{'' if layer == 0 else f'@L{layer}'}+{strategy}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("bench/out/al_merged"))
    ap.add_argument("--only", default="", help="comma-separated combo names to run (default: all)")
    ap.add_argument("--report-only", action="store_true", help="print the table from OUT/results.json")
    ap.add_argument("--strategy-args", type=json.loads, default={},
                    help='JSON keyword arguments of every acquisition run, e.g. \'{"sample": 430}\' (ALPs, BADGE and '
                         'BatchBALD then take their archive-scale approximations above 430 candidates)')
    ap.add_argument("--mc-samples", type=int, default=20, help="T, the MC-dropout samples of BALD and BatchBALD")
    ap.add_argument("--tag", default="", help="suffix of the combination names in OUT (e.g. /s430)")
    ap.add_argument("--stratify", action="store_true",
                    help="share every round's k (and the cold start) out over the corpora by their pool size")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.report_only:
        saved = json.loads((args.out / "results.json").read_text())
        return report(saved["runs"], saved["full_ua"], args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = merged_pool(args.out / "data")
    classes = manifest.labels()
    t0 = time.perf_counter()
    feats_all, front_all = embeddings(manifest)
    print(f"pool {len(manifest)} clips, classes {classes}; embeddings {feats_all.shape} in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    y_all = np.array([classes.index(u.emotion) for u in manifest])
    combos = [c for c in COMBOS if not args.only or combo_name(*c) in args.only.split(",")]
    name = {c: combo_name(*c) + args.tag for c in COMBOS}
    # runs already in OUT/results.json are kept and not run again: the grid can be filled in parts
    saved = json.loads((args.out / "results.json").read_text()) if (args.out / "results.json").is_file() else {}
    results: dict[str, list[dict]] = {name: runs for name, runs in saved.get("runs", {}).items()}
    results.update({name[c]: results.get(name[c], []) for c in combos})
    order = [combo_name(*c) + tag for c in COMBOS for tag in ("", args.tag)]
    results = dict(sorted(results.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    full: list[float] = []
    for seed in range(args.seeds):
        fold = split_by_group(manifest, "speaker", n_folds=4, val_fraction=0.1, seed=seed)[0]
        rows = {s: np.array(manifest.index_of(fold.ids(s))) for s in ("train", "val", "test")}
        order = np.concatenate([rows["train"], rows["val"], rows["test"]])
        feats, y, front = feats_all[order], y_all[order], front_all[order]
        n_pool, n_val = len(rows["train"]), len(rows["val"])
        val_rows, test_rows = np.arange(n_pool, n_pool + n_val), np.arange(n_pool + n_val, len(order))
        norm = np.arange(n_pool)        # standardisation statistics from the pool's features only
        learner = EmbeddingLearner(feats, HeadConfig(), len(classes), seed=seed, norm_idx=norm)
        learner.fit(np.arange(n_pool), y[:n_pool], val_rows, y[val_rows])
        full.append(unweighted_accuracy(y[test_rows], learner.predict_proba(test_rows).argmax(1)))
        print(f"seed {seed}: pool {n_pool}, val {n_val}, test {len(test_rows)}; 100 % labels UA {full[-1]:.3f}",
              flush=True)
        pool_ids = [manifest[i].id for i in rows["train"]]
        strata = [manifest.by_id(i).corpus for i in pool_ids] if args.stratify else None
        for init, strategy, layer in combos:
            key = name[(init, strategy, layer)]
            if any(r["seed"] == seed for r in results[key]):
                continue
            res = run_loop(feats, front, y, classes, n_pool, val_rows, test_rows, pool_ids, init=init,
                           strategy=strategy, layer=layer, seed=seed, schedule=SCHEDULE, strata=strata, norm=norm,
                           strategy_args=args.strategy_args, mc_samples=args.mc_samples)
            results[key].append(res)
            print(f"  {key:24s} AULC {res['aulc']:.3f}  UA@20% "
                  f"{np.interp(0.2, res['fractions'], res['test_ua']):.3f}  ({res['seconds']:.0f} s)", flush=True)
        (args.out / "results.json").write_text(json.dumps({"full_ua": full, "runs": results}, indent=1))
    report(results, full, args.out)


def report(results: dict[str, list[dict]], full: list[float], out: Path) -> None:
    """Markdown table: UA at the milestones, AULC, and the paired AULC difference to random + random
    (mean, sample std over seeds, mean / std, seeds won)."""
    base = {r["seed"]: r["aulc"] for r in results.get("random+random", [])}
    full_ua = float(np.mean(full))
    # the share of all labels (pool + validation) at each milestone, averaged over the seeds' splits
    split = {r["seed"]: (r["n_pool"], r["n_val"]) for runs in results.values() for r in runs}
    n_pool, n_val = np.mean([v[0] for v in split.values()]), np.mean([v[1] for v in split.values()])
    with_val = [(m * n_pool + n_val) / (n_pool + n_val) for m in MILESTONES]
    print(f"pool {n_pool:.0f} clips, validation {n_val:.0f} labelled clips (mean over {len(split)} seeds); "
          "share of the pool -> share of all labels incl. validation: "
          + ", ".join(f"{int(m * 100)}% -> {100 * w:.1f}%" for m, w in zip(MILESTONES, with_val)))
    lines = ["| init + acquisition | " + " | ".join(f"UA@{int(m * 100)}% ({100 * w:.0f}%)"
                                                   for m, w in zip(MILESTONES, with_val))
             + " | UA@20% / UA@100% | AULC 1-40% | paired ΔAULC vs random+random (sd ddof=1) | Δ/sd | seeds won |",
             "|---" * (len(MILESTONES) + 6) + "|"]
    for name, runs in results.items():
        if not runs:
            continue
        at = [[float(np.interp(m, r["fractions"], r["test_ua"])) for r in runs] for m in MILESTONES]
        cells = [f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in at]
        au = [r["aulc"] for r in runs]
        diff = np.array([r["aulc"] - base[r["seed"]] for r in runs if r["seed"] in base])
        if len(diff) > 1 and name != "random+random":
            sd = diff.std(ddof=1)
            d = f"{diff.mean():+.4f} ± {sd:.4f} | {diff.mean() / sd:+.2f} | {int((diff > 0).sum())}/{len(diff)}"
        else:
            d = "— | — | —"
        share = np.mean(at[MILESTONES.index(0.20)]) / full_ua
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {100 * share:.1f}% | {np.mean(au):.3f} ± "
                     f"{np.std(au):.3f} | {d} |")
    lines.append(f"| all labels (100 %) | UA {full_ua:.3f} ± {np.std(full):.3f} |" + " |" * (len(MILESTONES) + 4))
    twins = [(name, name.split("/")[0]) for name in results if "/" in name and name.split("/")[0] in results]
    if twins:   # a tagged variant (--tag) against the same combination untagged, seed by seed
        lines += ["", "| variant | against | paired ΔAULC (sd ddof=1) | seeds higher | seeds |", "|---|---|---|---|---|"]
        for name, twin in twins:
            mine = {r["seed"]: r["aulc"] for r in results[name]}
            diff = np.array([mine[r["seed"]] - r["aulc"] for r in results[twin] if r["seed"] in mine])
            if len(diff) > 1:
                lines.append(f"| {name} | {twin} | {diff.mean():+.4f} ± {diff.std(ddof=1):.4f} | "
                             f"{int((diff > 0).sum())}/{len(diff)} | {len(diff)} |")
    text = "\n".join(lines)
    (out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
