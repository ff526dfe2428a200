"""Per-epoch cost of the frozen-feature head's fit: the previous implementation against the current one, side by side.

The archive-scale round (``bench_al_round.py --pool 100000 --labelled 2000 --k 500``) fits the head on 2,500
labels with 1,000 validation clips from a [102,000, 7, 512] pool. This builds such a pool (whisper-base-shaped
synthetic arrays; the timing depends on the shapes, not the values) and runs, alternately and ``--repeats``
times, ``--epochs`` epochs of:

- ``before``: the fit as it was until this script was added (the training rows gathered once per fit, a
  ``[B, 7, 512]`` gather per step, the module's layer mix and ``nn.Dropout`` masks from ``bernoulli_``);
- ``after``: ``EmbeddingLearner.fit`` (fused gather + mix with ``embedding_bag``, masks from
  :class:`~after.training.heads.DropoutMasks`).

Both run exactly ``--epochs`` epochs (patience set above it), so the ratio is per epoch. Also times the
mask draws alone. CPU seconds of this process, one thread.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_head_fit.py [--pool 102000 --epochs 20 --repeats 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from after.training.config import HeadConfig
from after.training.heads import DropoutMasks
from after.training.learners import EmbeddingLearner, seeded
from after.training.losses import soft_cross_entropy


def fit_before(learner: EmbeddingLearner, tr: np.ndarray, y_tr: np.ndarray, va: np.ndarray, y_va: np.ndarray,
               epochs: int) -> None:
    """The previous fit loop (commit c836964), for timing only: gather, module forward, nn.Dropout."""
    model, cfg = learner.model, learner.cfg
    ytr = torch.nn.functional.one_hot(torch.as_tensor(y_tr), learner.n_classes).float()
    yva = torch.nn.functional.one_hot(torch.as_tensor(y_va), learner.n_classes).float()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    x_tr, x_va = learner.x[torch.as_tensor(tr)], learner.x[torch.as_tensor(va)]
    with seeded(1):
        for _ in range(epochs):
            model.train()
            perm = torch.randperm(len(tr))
            for start in range(0, len(perm), cfg.batch_size):
                pos = perm[start:start + cfg.batch_size]
                loss = soft_cross_entropy(model(x_tr[pos]), ytr[pos], None)
                float(loss.detach())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                float(soft_cross_entropy(model(x_va), yva, None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=102_000)
    ap.add_argument("--labelled", type=int, default=2500)
    ap.add_argument("--val", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.pool, 7, 512), dtype=np.float32)
    y = rng.integers(0, 4, args.pool)
    x += y[:, None, None].astype(np.float32) * 0.1
    cfg = dataclasses.replace(HeadConfig(), max_epochs=args.epochs, patience=args.epochs + 1)
    learner = EmbeddingLearner(x, cfg, 4, seed=0)
    del x
    rows = rng.permutation(args.pool)
    tr, va = rows[:args.labelled], rows[args.labelled:args.labelled + args.val]
    times: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(args.repeats):
        for name in times:
            learner.reset()
            t0 = time.process_time()
            if name == "before":
                fit_before(learner, tr, y[tr], va, y[va], args.epochs)
            else:
                learner.fit(tr, y[tr], va, y[va])
            times[name].append((time.process_time() - t0) / args.epochs * 1000)
    b, a = np.median(times["before"]), np.median(times["after"])
    print(f"fit: {args.labelled} labels, {args.val} validation, pool {args.pool} x 7 x 512, {args.epochs} epochs, "
          f"median of {args.repeats}, CPU ms per epoch")
    print(f"  before {b:7.1f}   after {a:7.1f}   ratio {b / a:.2f}x")
    shape = (1024, 768)   # one step's masks: 512 input units + 256 hidden units per row
    gen = torch.Generator().manual_seed(0)
    masks = DropoutMasks(0.2, 0, torch.device("cpu"))
    draws = {"bernoulli_ (nn.Dropout)": lambda: torch.empty(shape).bernoulli_(0.8, generator=gen),
             "torch.rand < keep": lambda: torch.rand(shape, generator=gen) < 0.8,
             "DropoutMasks (PCG64)": lambda: masks(*shape)}
    for name, draw in draws.items():
        t0 = time.process_time()
        for _ in range(50):
            draw()
        print(f"  masks [1024, 768] {name:24s} {(time.process_time() - t0) / 50 * 1000:6.2f} CPU ms")


if __name__ == "__main__":
    main()
