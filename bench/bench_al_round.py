"""Seconds per active-learning round over a 5,000-clip pool with cached embeddings, for every strategy.

A round is what `after al` does between two records: score the unlabelled pool (the strategy's arrays
only), select k clips, ask the oracle, fine-tune the head (warm start, early stopping on validation
loss), evaluate on validation and test. Embeddings are whisper-base-shaped ([n, 7, 512]) and read from
the shared corpora's cache when present (the 4,977 shared clips, topped up to 5,000 with copies plus
noise), else synthetic.

Seconds are wall-clock (``perf_counter``); ``--cpu`` reports the process's CPU seconds instead
(``process_time``, one thread), which a loaded shared machine inflates far less. ``--synthetic`` uses
random whisper-base-shaped arrays (no extraction; the timing depends on the shapes, not the values).

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_al_round.py [--pool 5000 --labelled 500 --k 100]
     OMP_NUM_THREADS=1 .venv/bin/python bench/bench_al_round.py --pool 100000 --labelled 2000 --k 500 --synthetic --cpu
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time

import numpy as np

from after.al.loop import ActiveLearningLoop, LoopConfig, LoopData
from after.al.oracles import SimulatedOracle
from after.al.pool import LabelPool
from after.al.strategies import STRATEGIES
from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner
from shared_pool import CORPORA, SHARED

CLASSES = ["angry", "happy", "neutral", "sad"]


def synthetic(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    y = rng.integers(0, len(CLASSES), n)
    x = rng.normal(size=(n, 7, 512)).astype(np.float32) + y[:, None, None].astype(np.float32) * 0.1
    return x, y, "synthetic whisper-base-shaped"


def features(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """[n, 7, 512] embeddings and labels: real whisper-base ones when the shared corpora are cached."""
    try:
        from after.backbones.embeddings import extract_embeddings
        from after.data.corpora import RECIPES
        paths, labels = [], []
        for name, folder in CORPORA:
            for u in RECIPES[name](SHARED / "data" / folder).manifest:
                paths.append(u.path)
                labels.append(u.emotion)
        x = extract_embeddings(str(SHARED / "models" / "whisper-base"), paths)
        names = sorted(set(labels))
        y = np.array([names.index(v) for v in labels]) % len(CLASSES)   # emotions folded onto 4 ids: timing only
        reps = int(np.ceil(n / len(x)))
        x = np.concatenate([x] * reps)[:n] + rng.normal(scale=0.01, size=(n, *x.shape[1:])).astype(np.float32)
        return x, np.concatenate([y] * reps)[:n], "whisper-base embeddings of the shared corpora"
    except Exception as exc:   # no shared data here: say so and use synthetic arrays of the same shape
        logging.warning("synthetic features (%s)", exc)
        return synthetic(n, rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=5000)
    ap.add_argument("--labelled", type=int, default=500)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--strategies", default=",".join(
        s for s, cls in STRATEGIES.items() if "annotator_probs" not in cls.requires))
    ap.add_argument("--synthetic", action="store_true", help="random arrays of the same shape, no extraction")
    ap.add_argument("--cpu", action="store_true", help="CPU seconds of this process instead of wall-clock")
    args = ap.parse_args()
    if args.cpu:   # every timer of the loop and of this script reads the process's CPU time
        time.perf_counter = time.process_time
    logging.basicConfig(level=logging.WARNING)
    rng = np.random.default_rng(0)
    n_eval = 1000
    x, y, source = (synthetic if args.synthetic else features)(args.pool + 2 * n_eval, rng)
    print(f"pool {args.pool} clips (+{n_eval} val, +{n_eval} test), features {x.shape[1:]} ({source}); "
          f"round = {args.labelled} labelled -> +{args.k}; {'CPU' if args.cpu else 'wall-clock'} seconds")
    ids = [f"c{i}" for i in range(args.pool)]
    data = LoopData(pool_rows=np.arange(args.pool), init_features=x[:args.pool, 0],
                    val_rows=np.arange(args.pool, args.pool + n_eval), y_val=y[args.pool:args.pool + n_eval],
                    test_rows=np.arange(args.pool + n_eval, len(x)), y_test=y[args.pool + n_eval:],
                    classes=CLASSES)
    print(f"{'strategy':18s} {'score':>7s} {'select':>7s} {'train':>7s} {'evaluate':>8s} {'round':>7s} {'epochs':>6s}")
    for name in args.strategies.split(","):
        cfg = LoopConfig(strategy=name, init="random", init_fraction=args.labelled / args.pool,
                         schedule=((args.labelled + args.k) / args.pool,), seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            pool = LabelPool(ids, SimulatedOracle({i: CLASSES[y[j]] for j, i in enumerate(ids)}))
            learner = EmbeddingLearner(x, HeadConfig(), len(CLASSES), seed=0)
            loop = ActiveLearningLoop(learner, pool, data, cfg, tmp)
            loop.run_round(0)                      # the labelled set and a trained head to start from
            t0 = time.perf_counter()
            rec = loop.run_round(1)
            total = time.perf_counter() - t0
        s = rec["seconds"]
        print(f"{name:18s} {s['score']:7.2f} {s['select']:7.2f} {s['train']:7.2f} {s['evaluate']:8.2f} "
              f"{total:7.2f} {rec['fit']['epochs']:6d}", flush=True)


if __name__ == "__main__":
    main()
