"""One epoch loop for every GMP-ATL stage: length-bucketed batches, Adam with two learning rates, the
best weights by validation loss kept in memory (or the last epoch's, when there is no validation)."""
from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
import torch

from after.backbones.batching import length_batches
from after.training.gmpatl.model import GMPModel
from after.training.learners import seeded

log = logging.getLogger(__name__)

BatchLoss = Callable[[np.ndarray], torch.Tensor]     # rows of the clip table -> scalar loss
Progress = Callable[[str, int, int], None]


def make_optimizer(model: GMPModel, lr: float, head_lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam: the encoder at ``lr``; heads, layer weights and the mask vector at ``head_lr``."""
    head_ids = {id(p) for m in model.head_modules() for p in m.parameters()} | {id(model.mask_vector)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) in head_ids], "lr": head_lr},
              {"params": [p for p in trainable if id(p) not in head_ids], "lr": lr}]
    return torch.optim.Adam([g for g in groups if g["params"]], weight_decay=weight_decay)


def _trainable_state(model: GMPModel) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


def run_epochs(model: GMPModel, rows: np.ndarray, durations_s: np.ndarray, batch_seconds: float,
               max_epochs: int, opt: torch.optim.Optimizer, batch_loss: BatchLoss,
               val_loss: Callable[[], float] | None, patience: int, seed: int, stage: str = "train",
               progress: Progress | None = None) -> dict:
    """Train ``model`` in place; returns ``{"epochs", "best_epoch", "history": [{"epoch", "train_loss",
    "val_loss"}]}``. With ``val_loss`` the model ends on its best-validation weights (early stopping after
    ``patience`` epochs without improvement); without, it runs ``max_epochs`` and keeps the last weights."""
    rng = np.random.default_rng(seed)
    best, best_epoch, best_state, history, epoch = float("inf"), 0, None, [], 0
    t0 = time.perf_counter()
    with seeded(seed):
        for epoch in range(1, max_epochs + 1):
            model.train()
            batches = length_batches(durations_s[rows], batch_seconds, shuffle=True, rng=rng)
            total, n_seen = 0.0, 0
            for step, batch in enumerate(batches, start=1):
                loss = batch_loss(rows[batch])
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"{stage}: non-finite loss at epoch {epoch}, step {step}; lower "
                                             "the learning rate (or turn amp off)")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(batch)
                n_seen += len(batch)
                if progress:
                    progress(stage, step, len(batches))
            record = {"epoch": epoch, "train_loss": total / max(n_seen, 1)}
            if val_loss is not None:
                model.eval()
                record["val_loss"] = float(val_loss())
            history.append(record)
            log.info("%s epoch %d: %s", stage, epoch, ", ".join(f"{k} {v:.4f}" for k, v in record.items()
                                                                 if k != "epoch"))
            if val_loss is None:
                continue
            if record["val_loss"] < best - 1e-6:
                best, best_epoch, best_state = record["val_loss"], epoch, _trainable_state(model)
            elif epoch - best_epoch >= patience:
                log.info("%s: early stop, no lower validation loss for %d epochs", stage, patience)
                break
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.eval()
    return {"epochs": epoch, "best_epoch": best_epoch if val_loss is not None else epoch,
            "train_seconds": time.perf_counter() - t0, "history": history}
