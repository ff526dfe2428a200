"""Run the bench_al_round.py of another checkout (e.g. an old commit in a temporary worktree) with the
synthetic arrays and CPU-second timers of this one, so before and after are measured alike.

Run: git worktree add /tmp/al_old 2665c6c
     OMP_NUM_THREADS=1 python bench/bench_al_round_tree.py /tmp/al_old --cpu --pool 100000 --labelled 2000 --k 500
"""
import sys
import time

import numpy as np

tree = sys.argv.pop(1)
if sys.argv[1:2] == ["--cpu"]:   # CPU seconds of this one-thread process: fair on a loaded shared machine
    sys.argv.pop(1)
    time.perf_counter = time.process_time
sys.path[:0] = [f"{tree}/bench", f"{tree}/src"]
import bench_al_round as old  # noqa: E402  (the other checkout's script)


def synthetic(n, rng):
    y = rng.integers(0, 4, n)
    x = rng.normal(size=(n, 7, 512)).astype(np.float32) + y[:, None, None].astype(np.float32) * 0.1
    return x, y, "synthetic whisper-base-shaped"


old.features = synthetic
old.main()
