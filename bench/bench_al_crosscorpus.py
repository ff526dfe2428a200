"""Cross-corpus active learning: the pool is three shared corpora, the test set the fourth (each in turn).

Data: the merged 4-class pool of ``shared_pool.py`` (angry/happy/neutral/sad from RAVDESS, EmoDB-2s, nEMO,
TurEV-DB). For each held-out corpus and seed: the test set is every clip of the held-out corpus; validation
is whole speakers of the three pool corpora, about 10 % of their clips (``pick_validation_groups``, seeded);
the rest of those corpora is the pool. No clip of the held-out corpus shapes the pool, the validation set,
the standardisation (fitted on the pool's features only) or the cold start.

Features: frozen whisper-base (../shared/models/whisper-base, genuine OpenAI weights), every layer
mean-pooled, cached; the cold start clusters the convolutional front end before positional embeddings.
Learner: the EmbeddingLearner (layer mix + MLP, early stopping on validation loss), warm-started round to
round. Loop: ``after.al.loop.ActiveLearningLoop``, cold start 1 %, rounds up to 2.5, 5, 7.5, 10, 15, 20, 30
and 40 % of the pool (the schedule of ``bench_al_merged.py``).

Combinations: ``init+strategy``, with ``/strat`` for selection stratified by corpus (every round's k and the
cold start shared out over the pool's three corpora in proportion to their unlabelled clips).

Reported per held-out corpus and as the mean over corpora: AULC of test UA over 1-40 %, UA at 10/20/30 %
of the pool, and the paired AULC difference to random + random (same corpus, same seed).

Run: OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python bench/bench_al_crosscorpus.py --seeds 5 --out bench/out/al_cross
Runs already in OUT/results.json are kept, so more combinations can be added later with --only.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np

from after.data.splits import pick_validation_groups
from after.evaluation.metrics import unweighted_accuracy
from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner
from shared_pool import CORPORA, embeddings, merged_pool, run_loop

SCHEDULE = (0.025, 0.05, 0.075, 0.10, 0.15, 0.20, 0.30, 0.40)
AT = (0.10, 0.20, 0.30)
COMBOS = ("random+random", "kmeans+entropy", "random+random/strat", "kmeans+entropy/strat", "kmeans+badge",
          "kmeans+badge/strat", "dacs+entropy", "kmeans_per_clip+entropy", "random+entropy",
          "kmeans_per_clip+entropy/strat")


def split(manifest, held_out: str, seed: int) -> dict[str, np.ndarray]:
    """Manifest rows of the pool, validation (whole speakers of the pool corpora) and test (the held-out corpus)."""
    corpus = np.array([u.corpus for u in manifest])
    speaker = np.array([u.speaker for u in manifest])
    train = np.flatnonzero(corpus != held_out)
    sizes = Counter(speaker[train])
    rng = np.random.default_rng([seed, CORPORA_NAMES.index(held_out)])
    val_speakers = set(pick_validation_groups(sorted(sizes), sizes, 0.1, rng))
    is_val = np.array([speaker[i] in val_speakers for i in train])
    return {"train": train[~is_val], "val": train[is_val], "test": np.flatnonzero(corpus == held_out)}


CORPORA_NAMES = [folder for _, folder in CORPORA]   # the manifest's corpus column


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("bench/out/al_cross"))
    ap.add_argument("--only", default="random+random,kmeans+entropy",
                    help=f"comma-separated combinations to run, of {', '.join(COMBOS)} ('all': every one)")
    ap.add_argument("--report-only", action="store_true", help="print the tables from OUT/results.json")
    ap.add_argument("--include", type=Path, nargs="*", default=[],
                    help="with --report-only: further OUT folders (runs made side by side) merged into the tables")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    file = args.out / "results.json"
    saved = json.loads(file.read_text()) if file.is_file() else {"runs": {}, "full_ua": {}}
    if args.report_only:
        for other in args.include:
            merge(saved, json.loads((other / "results.json").read_text()))
        return report(saved, args.out)
    combos = list(COMBOS) if args.only == "all" else args.only.split(",")
    unknown = [c for c in combos if c not in COMBOS]
    if unknown:
        raise SystemExit(f"unknown combination(s) {unknown}; choose from {', '.join(COMBOS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = merged_pool(args.out / "data")
    classes = manifest.labels()
    if {u.corpus for u in manifest} != set(CORPORA_NAMES):
        raise SystemExit(f"corpora {sorted({u.corpus for u in manifest})} in the manifest, expected {CORPORA_NAMES}")
    t0 = time.perf_counter()
    feats_all, front_all = embeddings(manifest)
    print(f"{len(manifest)} clips, classes {classes}; embeddings {feats_all.shape} in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    y_all = np.array([classes.index(u.emotion) for u in manifest])
    runs, full = saved["runs"], saved["full_ua"]
    for seed in range(args.seeds):
        for held in CORPORA_NAMES:
            rows = split(manifest, held, seed)
            order = np.concatenate([rows["train"], rows["val"], rows["test"]])
            feats, y, front = feats_all[order], y_all[order], front_all[order]
            n_pool, n_val = len(rows["train"]), len(rows["val"])
            val_rows, test_rows = np.arange(n_pool, n_pool + n_val), np.arange(n_pool + n_val, len(order))
            key = f"{held}/{seed}"
            if key not in full:
                learner = EmbeddingLearner(feats, HeadConfig(), len(classes), seed=seed, norm_idx=np.arange(n_pool))
                learner.fit(np.arange(n_pool), y[:n_pool], val_rows, y[val_rows])
                full[key] = unweighted_accuracy(y[test_rows], learner.predict_proba(test_rows).argmax(1))
            print(f"held out {held}, seed {seed}: pool {n_pool}, val {n_val}, test {len(test_rows)}; "
                  f"all pool labels UA {full[key]:.3f}", flush=True)
            pool_ids = [manifest[i].id for i in rows["train"]]
            corpora = [manifest[i].corpus for i in rows["train"]]
            for combo in combos:
                done = runs.setdefault(combo, {}).setdefault(held, [])
                if any(r["seed"] == seed for r in done):
                    continue
                init, strategy = combo.split("/")[0].split("+")
                res = run_loop(feats, front, y, classes, n_pool, val_rows, test_rows, pool_ids, init=init,
                               strategy=strategy, layer=0, seed=seed, schedule=SCHEDULE,
                               strata=corpora if combo.endswith("/strat") else None, count_by=corpora)
                res["pool_by"] = dict(Counter(corpora))
                done.append(res)
                print(f"  {combo:30s} AULC {res['aulc']:.3f}  UA@20% "
                      f"{np.interp(0.2, res['fractions'], res['test_ua']):.3f}  ({res['seconds']:.0f} s)", flush=True)
                file.write_text(json.dumps({"runs": runs, "full_ua": full}, indent=1))
    report({"runs": runs, "full_ua": full}, args.out)


def merge(into: dict, other: dict) -> None:
    """Add ``other``'s runs (combination, held-out corpus, seed) that ``into`` lacks."""
    for combo, by_corpus in other["runs"].items():
        for held, rs in by_corpus.items():
            have = into["runs"].setdefault(combo, {}).setdefault(held, [])
            have += [r for r in rs if all(r["seed"] != h["seed"] for h in have)]
    into["full_ua"].update({k: v for k, v in other["full_ua"].items() if k not in into["full_ua"]})


def _cell(values) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def report(saved: dict, out: Path) -> None:
    """One table per held-out corpus and one of the means over corpora (per seed, then mean ± std over seeds)."""
    runs, full = saved["runs"], saved["full_ua"]
    base = {(h, r["seed"]): r["aulc"] for h, rs in runs.get("random+random", {}).items() for r in rs}
    head = ("| combination | AULC 1-40% | " + " | ".join(f"UA@{int(a * 100)}%" for a in AT)
            + " | paired ΔAULC vs random+random | seeds won | seeds |\n|---|---|---|---|---|---|---|---|")
    text = []
    for held in CORPORA_NAMES + ["mean"]:
        lines = [f"**Test: {held}**" if held != "mean" else "**Mean over the four held-out corpora** "
                 "(per seed, the mean over corpora; then mean ± std over seeds)", "", head]
        for combo in (c for c in COMBOS if c in runs):
            by_corpus = runs[combo] if held == "mean" else {held: runs[combo].get(held, [])}
            seeds = sorted(set.intersection(*[{r["seed"] for r in rs} for rs in by_corpus.values()]))
            if not seeds or (held == "mean" and len(by_corpus) < len(CORPORA_NAMES)):
                continue
            per = {s: [next(r for r in rs if r["seed"] == s) | {"held": h} for h, rs in by_corpus.items()]
                   for s in seeds}
            au = [np.mean([r["aulc"] for r in per[s]]) for s in seeds]
            ua = [[np.mean([np.interp(a, r["fractions"], r["test_ua"]) for r in per[s]]) for s in seeds] for a in AT]
            diff = np.array([np.mean([r["aulc"] - base[(r["held"], s)] for r in per[s]]) for s in seeds
                             if all((r["held"], s) in base for r in per[s])])
            d = "—" if combo == "random+random" or len(diff) < 2 else f"{diff.mean():+.4f} ± {diff.std(ddof=1):.4f}"
            won = "—" if d == "—" else f"{int((diff > 0).sum())}/{len(diff)}"
            lines.append(f"| {combo} | {_cell(au)} | " + " | ".join(_cell(v) for v in ua) + f" | {d} | {won} | {len(seeds)} |")
        if held == "mean":   # per seed with every corpus held out once: the mean over corpora
            seeds = {k.split("/")[1] for k in full}
            held_full = [np.mean([full[f"{h}/{s}"] for h in CORPORA_NAMES]) for s in sorted(seeds)
                         if all(f"{h}/{s}" in full for h in CORPORA_NAMES)]
        else:
            held_full = [v for k, v in full.items() if k.startswith(held + "/")]
        if held_full:
            lines.append(f"| all pool labels (100 %) | UA {_cell(held_full)} | | | | | | |")
        text.append("\n".join(lines))
    text.append(composition(runs))
    joined = "\n\n".join(text)
    (out / "table.md").write_text(joined + "\n")
    print(joined)


def composition(runs: dict, at: float = 0.20) -> str:
    """Which pool corpora the labelled set holds at ``at`` of the pool (share of its clips, mean over seeds)."""
    lines = [f"**Labelled set at {int(at * 100)} % of the pool: share of each pool corpus** (mean over seeds; "
             "the pool's own shares in the first row of each held-out corpus)", "",
             "| test corpus | combination | " + " | ".join(CORPORA_NAMES) + " |", "|---" * (len(CORPORA_NAMES) + 2) + "|"]
    for held in CORPORA_NAMES:
        rows = []
        for combo in (c for c in COMBOS if c in runs):
            rs = [r for r in runs[combo].get(held, []) if "labelled_by" in r]
            if not rs:
                continue
            if not rows:   # the pool itself: what a uniform draw would hold
                rows.append(f"| {held} | (pool) | " + " | ".join(
                    "—" if c == held else f"{100 * r0:.0f}%" for c, r0 in zip(CORPORA_NAMES, _pool_shares(rs[0]))) + " |")
            shares = np.mean([_shares(r, at) for r in rs], axis=0)
            rows.append(f"| {held} | {combo} | " + " | ".join(
                "—" if c == held else f"{100 * v:.0f}%" for c, v in zip(CORPORA_NAMES, shares)) + " |")
        lines += rows
    return "\n".join(lines)


def _shares(run: dict, at: float) -> np.ndarray:
    i = int(np.argmin(np.abs(np.asarray(run["fractions"]) - at)))
    counts = np.array([run["labelled_by"][i].get(c, 0) for c in CORPORA_NAMES], dtype=float)
    return counts / counts.sum()


def _pool_shares(run: dict) -> np.ndarray:
    counts = np.array([run["pool_by"].get(c, 0) for c in CORPORA_NAMES], dtype=float)
    return counts / counts.sum()


if __name__ == "__main__":
    main()
