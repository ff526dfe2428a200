"""Step plan and learning-rate schedule: which clips form step ``s``, and its learning-rate factor.

The plan is a pure function of the clip durations, the seed and the step, so a resumed run needs nothing
but the step it stopped at to continue on exactly the batches the uninterrupted run would have seen.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from after.backbones.batching import length_batches


class StepPlan:
    """Length-bucketed batches by padded audio seconds, reshuffled each epoch with ``[seed, epoch]``."""

    def __init__(self, durations_s: Sequence[float], batch_seconds: float, seed: int, steps: int, epochs: float):
        if len(durations_s) == 0:
            raise ValueError("no clips to adapt on")
        self.durations_s = list(durations_s)
        self.batch_seconds, self.seed = batch_seconds, seed
        self.steps_per_epoch = len(length_batches(self.durations_s, batch_seconds))
        self.total_steps = steps if steps > 0 else max(1, math.ceil(epochs * self.steps_per_epoch))
        self._epoch, self._batches = -1, []

    def batch(self, step: int) -> np.ndarray:
        """Row indices of the clips of ``step`` (0-based)."""
        epoch = step // self.steps_per_epoch
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._batches = length_batches(self.durations_s, self.batch_seconds, shuffle=True, rng=rng)
            self._epoch = epoch
        return self._batches[step % self.steps_per_epoch]


def warmup_linear_decay(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor: linear from ~0 to 1 over ``warmup_steps``, then linear to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def step_seed(seed: int, step: int) -> int:
    """A 32-bit seed for the masks and noise of ``step``."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])
