"""Where the frozen-feature head's training time goes: one ``EmbeddingLearner.fit`` under the torch profiler.

The archive-scale round (``bench_al_round.py --pool 100000 --labelled 2000 --k 500``) fits the head on 2,500
labels with 1,000 validation clips; this fits the same sizes on whisper-base-shaped synthetic arrays
([n, 7, 512], the timing depends on the shapes, not the values) with the default ``HeadConfig`` (batch 1024,
early stopping with patience 30, at most ``--epochs``) and prints each operator's share of the CPU time,
grouped by what it does. One thread.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_head_profile.py [--labelled 2500 --val 1000 --epochs 100]
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from collections import defaultdict

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner

GROUPS = {   # aten operator -> what it is in the fit
    "aten::bernoulli_": "dropout masks (random numbers)",
    "aten::lt_": "dropout masks (random numbers)", "aten::uniform_": "dropout masks (random numbers)",
    "aten::mm": "Linear layers (matrix products)", "aten::addmm": "Linear layers (matrix products)",
    "aten::mul": "element-wise: layer mix, dropout, their gradients", "aten::sum": "element-wise: layer mix, dropout, their gradients",
    "aten::index": "gathering the batch's rows",
    "aten::_embedding_bag": "layer mix of the batch's rows (fused gather, embedding_bag)",
    "aten::_embedding_bag_forward_only": "layer mix of the batch's rows (fused gather, embedding_bag)",
    "aten::_embedding_bag_per_sample_weights_backward": "layer mix of the batch's rows (fused gather, embedding_bag)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labelled", type=int, default=2500)
    ap.add_argument("--val", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=100, help="max_epochs (synthetic data keeps improving)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = args.labelled + args.val
    y = rng.integers(0, 4, n)
    x = rng.normal(size=(n, 7, 512)).astype(np.float32) + y[:, None, None].astype(np.float32) * 0.1
    learner = EmbeddingLearner(x, dataclasses.replace(HeadConfig(), max_epochs=args.epochs), 4, seed=0)
    tr, va = np.arange(args.labelled), np.arange(args.labelled, n)
    t0 = time.process_time()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        info = learner.fit(tr, y[tr], va, y[va])
    cpu = time.process_time() - t0
    shares: dict[str, float] = defaultdict(float)
    total = 0.0
    for ev in prof.key_averages():
        total += ev.self_cpu_time_total
        shares[GROUPS.get(ev.key, "other (Adam, softmax, copies, ...)")] += ev.self_cpu_time_total
    print(f"fit: {args.labelled} labels, {args.val} validation, {info['epochs']} epochs, "
          f"{cpu:.1f} CPU s under the profiler ({cpu / info['epochs'] * 1000:.0f} ms per epoch)")
    for name, t in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * t / total:5.1f} %  {name}")


if __name__ == "__main__":
    main()
