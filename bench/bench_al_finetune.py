"""The paper's own setting at small scale: whisper-tiny.en fine-tuned end to end inside the loop.

Entropy (after AFTER's k-means cold start) against random + random, 3 seeds, one speaker-independent fold
of the 4-class pool merged from the shared corpora (as in bench_al_merged.py). To fit 2 CPU cores, the
pool, validation and test sets are seeded random subsets (``--pool``, ``--val``, ``--test`` clips), the
CNN front end and the first ``--freeze-first`` transformer layers stay frozen, and each round trains at
most ``--epochs`` epochs (early stopping on validation loss, ``--patience``). Weights:
../shared/models/whisper-tiny.en (genuine OpenAI Whisper tiny.en encoder).

Run: .venv/bin/python bench/bench_al_finetune.py --seeds 3 --pool 200 --val 50 --test 160 --epochs 12 \
     --patience 4 --freeze-first 3 --batch-seconds 10 --out bench/out/al_finetune
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from after.al.loop import ActiveLearningLoop, LoopConfig, LoopData
from after.al.oracles import SimulatedOracle
from after.al.pool import LabelPool
from after.al.records import aulc
from after.backbones.embeddings import extract_embeddings
from after.data.splits import split_by_group
from after.training.config import HeadConfig, ModelConfig, TrainConfig
from after.training.finetune import FineTuneLearner
from shared_pool import SHARED, merged_pool

MODEL = SHARED / "models" / "whisper-tiny.en"
SCHEDULE = (0.05, 0.10, 0.20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pool", type=int, default=400)
    ap.add_argument("--val", type=int, default=80)
    ap.add_argument("--test", type=int, default=240)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--freeze-first", type=int, default=2)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--batch-seconds", type=float, default=10.0,
                    help="audio seconds per step: small, so a few dozen labelled clips still give many steps")
    ap.add_argument("--out", type=Path, default=Path("bench/out/al_finetune"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not MODEL.is_dir():
        raise SystemExit(f"skipped: {MODEL} not found")
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = merged_pool(args.out / "data")
    classes = manifest.labels()
    fold = split_by_group(manifest, "speaker", n_folds=4, val_fraction=0.1, seed=0)[0]   # one fold
    results: dict[str, list[dict]] = {"kmeans+entropy": [], "random+random": []}
    for seed in range(args.seeds):
        rng = np.random.default_rng([seed, 11])
        take = {s: list(rng.choice(fold.ids(s), n, replace=False)) for s, n in (
            ("train", args.pool), ("val", args.val), ("test", args.test))}
        ids = take["train"] + take["val"] + take["test"]
        paths = [manifest.by_id(i).path for i in ids]
        y = np.array([classes.index(manifest.by_id(i).emotion) for i in ids])
        cnn = extract_embeddings(str(MODEL), paths[:args.pool])[:, 0]      # CNN-encoder features, cold start
        n_pool, n_val = args.pool, args.val
        data = LoopData(pool_rows=np.arange(n_pool), init_features=cnn,
                        val_rows=np.arange(n_pool, n_pool + n_val), y_val=y[n_pool:n_pool + n_val],
                        test_rows=np.arange(n_pool + n_val, len(ids)), y_test=y[n_pool + n_val:], classes=classes)
        for name, (init, strategy) in {"kmeans+entropy": ("kmeans", "entropy"),
                                       "random+random": ("random", "random")}.items():
            t0 = time.perf_counter()
            learner = FineTuneLearner(paths, str(MODEL), len(classes),
                                      model_cfg=ModelConfig(freeze="first_n", freeze_first_n=args.freeze_first),
                                      head_cfg=HeadConfig(dropout=0.2),
                                      train_cfg=TrainConfig(max_epochs=args.epochs, patience=args.patience, batch_seconds=args.batch_seconds),
                                      seed=seed)
            pool = LabelPool(take["train"], SimulatedOracle({i: manifest.by_id(i).emotion for i in take["train"]}))
            cfg = LoopConfig(strategy=strategy, init=init, init_fraction=0.02, schedule=SCHEDULE, seed=seed)
            records = ActiveLearningLoop(learner, pool, data, cfg, args.out / f"{name}_seed{seed}").run()
            frac, ua = [r["fraction"] for r in records], [r["test_ua"] for r in records]
            results[name].append({"seed": seed, "fractions": frac, "test_ua": ua, "aulc": aulc(frac, ua),
                                  "seconds": time.perf_counter() - t0,
                                  "round_seconds": [r["seconds"] for r in records]})
            print(f"seed {seed} {name:15s} UA " + " ".join(f"{f:.0%}:{u:.3f}" for f, u in zip(frac, ua))
                  + f"  AULC {aulc(frac, ua):.3f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
            (args.out / "results.json").write_text(json.dumps(results, indent=1))
    for name, runs in results.items():
        at = np.array([r["test_ua"] for r in runs])
        print(f"{name:15s} UA by round (mean ± std over {len(runs)} seeds): "
              + " ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(at.mean(0), at.std(0)))
              + f"; AULC {np.mean([r['aulc'] for r in runs]):.3f} ± {np.std([r['aulc'] for r in runs]):.3f}")


if __name__ == "__main__":
    main()
