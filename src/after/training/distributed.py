"""One model trained on several processes or GPUs: torch.distributed + DistributedDataParallel (DDP).

Launch with ``torchrun --nproc_per_node N script.py`` (or ``accelerate launch``): each process reads its
rank from the environment torchrun sets (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``), joins the process group (``nccl`` on GPUs, ``gloo`` on CPUs), wraps the model in DDP and
trains on its shard of every global batch. DDP averages the gradients over the processes, so with equal
shards a step on N processes equals one step on one process over the whole batch (the mean loss of the
global batch): the global batch size, learning rate and results do not depend on N.

Typical use::

    env = init_distributed()                 # a single process without torchrun: world_size 1, no group
    model = wrap_model(model.to(env.device), env)
    for batch in batches:                    # the same global batch order on every rank (same seed)
        idx = shard(batch, env)              # this rank's rows
        ...loss on idx, backward, step...
    cleanup(env)
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from after.errors import AfterError

log = logging.getLogger(__name__)

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class DistributedError(AfterError):
    """The distributed environment is incomplete or inconsistent."""


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the group."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str = ""           # "" when no process group was started (one process)
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and results; the others only train."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_backend(backend: str = "auto") -> str:
    """``nccl`` when CUDA is available, else ``gloo`` (the CPU backend)."""
    if backend != "auto":
        return backend
    return "nccl" if torch.cuda.is_available() else "gloo"


def init_distributed(backend: str = "auto", timeout_s: float = 1800.0) -> DistEnv:
    """Join the process group described by torchrun's environment variables.

    Without them (a plain ``python`` run) this is one process: world size 1, no group. With some but not
    all of them the launch is broken and a :class:`DistributedError` says which are missing.
    """
    present = [v for v in TORCHRUN_VARS if v in os.environ]
    if not present:
        return DistEnv(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    missing = [v for v in TORCHRUN_VARS if v not in os.environ]
    if missing:
        raise DistributedError(f"distributed launch: {', '.join(missing)} not set (have {', '.join(present)}); "
                               "start the script with torchrun --nproc_per_node N, which sets them all")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not 0 <= rank < world:
        raise DistributedError(f"RANK={rank} is outside WORLD_SIZE={world}")
    backend = pick_backend(backend)
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s))
    log.info("rank %d of %d (%s on %s)", rank, world, backend, device)
    return DistEnv(rank, local_rank, world, backend, device)


def wrap_model(model: torch.nn.Module, env: DistEnv, **ddp_kwargs) -> torch.nn.Module:
    """The model in DDP when several processes train it; unchanged for one process."""
    if not env.distributed:
        return model
    ids = [env.device.index] if env.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None, **ddp_kwargs)


def shard(indices: np.ndarray, env: DistEnv) -> np.ndarray:
    """This rank's rows of a global batch ``[B]``: every ``world_size``-th row starting at ``rank``.

    When ``B`` is not a multiple of the world size the batch is padded with its first rows (as
    ``torch.utils.data.DistributedSampler`` does) so that every rank steps with a shard of the same size;
    only then do the padded rows count twice. A step equals the single-process step exactly when ``B`` is a
    multiple of the world size.
    """
    idx = np.asarray(indices)
    if env.world_size == 1:
        return idx
    if len(idx) == 0:
        raise DistributedError("an empty batch cannot be shared between ranks")
    pad = (-len(idx)) % env.world_size
    if pad:
        idx = np.concatenate([idx, np.resize(idx, pad)])
    return idx[env.rank::env.world_size]


def cleanup(env: DistEnv) -> None:
    if env.backend and dist.is_initialized():
        # every rank reaches this point before any tears its connections down: a rank that destroys the group
        # while another still talks to it can abort that one in gloo ("terminate called without an active
        # exception", seen once in a fresh-clone CI run)
        dist.barrier()
        dist.destroy_process_group()
