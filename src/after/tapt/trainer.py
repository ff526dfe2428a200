"""The TAPT training loop: read top to bottom in :meth:`TaptTrainer.run`.

Every ``checkpoint_every`` steps (and at the end) the model, optimizer, schedule, gradient scaler, torch
RNG and step are written atomically to ``checkpoint.pt``; the batches, masks and noise of a step are
functions of (seed, step) alone (:mod:`after.tapt.schedule`), so a run killed by ``kill -9`` and started
again continues on exactly the path of the uninterrupted run. ``steps.jsonl`` gets one line per logged step
and is cut back to the checkpoint's step on resume, so it never holds a step twice.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from after.atomic import atomic_open, atomic_write_text
from after.backbones.batching import length_batches
from after.data import audio as audio_io
from after.errors import AfterError
from after.tapt.config import TaptConfig
from after.tapt.model import TaptModel
from after.tapt.schedule import StepPlan, step_seed, warmup_linear_decay

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
STEPS_NAME = "steps.jsonl"

Progress = Callable[[int, int, float], None]   # (step done, total steps, loss)


class TaptError(AfterError, RuntimeError):
    """TAPT cannot go on (a non-finite loss, a checkpoint of another run); the message says what to do."""


@dataclass(frozen=True)
class Clip:
    """One clip of the adaptation pool: no label needed."""

    id: str
    path: str
    duration_s: float


class TaptTrainer:
    def __init__(self, model: TaptModel, clips: Sequence[Clip], cfg: TaptConfig, run_dir: str | Path,
                 device: torch.device, data_hash: str = ""):
        self.model, self.clips, self.cfg = model.to(device), list(clips), cfg
        self.run_dir, self.device, self.data_hash = Path(run_dir), device, data_hash
        self.plan = StepPlan([min(c.duration_s, cfg.max_clip_s) for c in self.clips], cfg.batch_seconds,
                             cfg.seed, cfg.steps, cfg.epochs)
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(
            [{"params": [p for p in model.backbone.parameters() if p.requires_grad], "lr": o.lr},
             {"params": model.head_parameters(), "lr": o.head_lr}], weight_decay=o.weight_decay)
        total = self.plan.total_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: warmup_linear_decay(s, o.warmup_steps, total))
        cuda = device.type == "cuda"
        self.amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(o.precision) if cuda else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and o.precision == "fp16")
        self.step = 0

    # -- the loop ---------------------------------------------------------------------------------------------
    def run(self, progress: Progress | None = None) -> dict:
        """Train from the last checkpoint (if any) to the last step; returns the run's summary."""
        self.resume()
        if self.model.needs_units:       # k-means targets: fitted once, then kept in every checkpoint
            self.fit_units()
        total = self.plan.total_steps
        self.model.train()
        with open(self.run_dir / STEPS_NAME, "a", encoding="utf-8") as steps_log:
            while self.step < total:
                loss, terms = self.train_step(self.step)
                self.step += 1
                if self.step % self.cfg.log_every == 0 or self.step == total:
                    record = {"step": self.step, "loss": loss, **terms, "lr": self.scheduler.get_last_lr()[0]}
                    steps_log.write(json.dumps(record) + "\n")
                    steps_log.flush()
                if self.step % self.cfg.checkpoint_every == 0 or self.step == total:
                    self.save_checkpoint()
                if progress:
                    progress(self.step, total, loss)
        self.model.eval()
        lines = (self.run_dir / STEPS_NAME).read_text(encoding="utf-8").splitlines()
        return {"steps": total, "steps_per_epoch": self.plan.steps_per_epoch, "clips": len(self.clips),
                "final": json.loads(lines[-1]) if lines else {}}

    def train_step(self, step: int) -> tuple[float, dict[str, float]]:
        rows = self.plan.batch(step)
        waves = [audio_io.load_audio(self.clips[i].path, max_duration_s=self.cfg.max_clip_s) for i in rows]
        autocast = torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else \
            contextlib.nullcontext()
        with autocast:
            total, terms = self.model.loss(waves, step_seed(self.cfg.seed, step))
        values = {k: float(v.detach()) for k, v in terms.items()}
        if not torch.isfinite(total.detach()):
            raise TaptError(
                f"step {step + 1}: the TAPT loss is {float(total.detach())} ({', '.join(f'{k} {v}' for k, v in values.items())}); "
                f"stopped. The checkpoint of step {self.step_of_checkpoint()} is kept: lower optim.lr, use "
                "optim.precision=bf16 or fp32, or check the clips of this batch: "
                + ", ".join(self.clips[i].id for i in rows[:5]))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                       self.cfg.optim.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(total.detach()), values

    def fit_units(self) -> None:
        """Fit the k-means targets on a seeded subset of the pool (its clips only, like every step)."""
        n = min(self.cfg.objective.kmeans_clips, len(self.clips))
        rows = np.sort(np.random.default_rng([self.cfg.seed, 15485863]).choice(len(self.clips), n, replace=False))
        durations = [min(self.clips[i].duration_s, self.cfg.max_clip_s) for i in rows]
        batches = ([audio_io.load_audio(self.clips[rows[j]].path, max_duration_s=self.cfg.max_clip_s) for j in b]
                   for b in length_batches(durations, self.cfg.batch_seconds))
        self.model.fit_units(batches)

    # -- checkpoints ------------------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    def step_of_checkpoint(self) -> int:
        return self._saved_step if hasattr(self, "_saved_step") else 0

    def save_checkpoint(self) -> None:
        state = {"step": self.step, "data_hash": self.data_hash, "model": self.model.full_position_tables().state_dict(),
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "scaler": self.scaler.state_dict(), "torch_rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
        with atomic_open(self.checkpoint_path, "wb") as fh:
            torch.save(state, fh)
        self._saved_step = self.step

    def resume(self) -> None:
        """Load ``checkpoint.pt`` if present and cut ``steps.jsonl`` back to its step."""
        if self.checkpoint_path.is_file():
            try:
                state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
            except Exception as exc:   # atomic writes make this a foreign or damaged file, not a half write
                raise TaptError(f"{self.checkpoint_path} cannot be read ({exc.__class__.__name__}); delete it to "
                                "start this run again from step 0") from None
            if state.get("data_hash") != self.data_hash:
                raise TaptError(f"{self.checkpoint_path} was trained on other clips (data hash differs); "
                                "use a new run directory")
            self.model.full_position_tables().load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["torch_rng"].cpu())
            if state.get("cuda_rng") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
            self.step = self._saved_step = int(state["step"])
            log.info("resuming TAPT from step %d of %d", self.step, self.plan.total_steps)
        self._truncate_steps_log(self.step)

    def _truncate_steps_log(self, step: int) -> None:
        path = self.run_dir / STEPS_NAME
        if not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:     # the line a kill cut in half
                continue
            if record.get("step", math.inf) <= step:
                kept.append(line)
        atomic_write_text(path, "".join(k + "\n" for k in kept))
