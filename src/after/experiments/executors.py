"""Where grid cells run: one after another in this process, or as Ray tasks (local or on a cluster).

An executor maps a cell function ``fn(spec: dict, run_dir: str) -> dict`` over specs and yields the
results as cells finish (in completion order). The cell function must be a module-level function (Ray and
pickle ship it by reference); cells share no state but the results database.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Iterator, Protocol, Sequence

from after.config import ConfigError

log = logging.getLogger(__name__)

CellFn = Callable[[dict, str], dict]


class Executor(Protocol):
    def map(self, fn: CellFn, specs: Sequence[dict], run_dir: str) -> Iterator[dict]:
        """Run ``fn(spec, run_dir)`` for every spec; yield each result as its cell finishes."""
        ...


class InProcessExecutor:
    """The default: cells one after another in this process."""

    def map(self, fn: CellFn, specs: Sequence[dict], run_dir: str) -> Iterator[dict]:
        for spec in specs:
            yield fn(spec, run_dir)


class RayExecutor:
    """Cells as Ray tasks, ``cpus_per_cell`` CPUs each.

    ``address=None`` starts a local Ray instance (``num_cpus`` CPUs, default all); ``"auto"`` or
    ``"ray://host:10001"`` joins a cluster. Every node must see the run directory and the data at the same
    paths (a shared filesystem) and reach the results database (use a server database on a cluster).
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_cell: float = 1.0):
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("--executor ray needs Ray: pip install 'after[ray]'") from exc
        self.ray = ray
        self.address, self.num_cpus, self.cpus_per_cell = address, num_cpus, cpus_per_cell

    def _init(self) -> None:
        if self.ray.is_initialized():
            return
        # workers import this checkout of `after` and keep one thread each (cells already run in parallel)
        env = {k: os.environ[k] for k in ("PYTHONPATH", "AFTER_CACHE") if k in os.environ}
        env.update({"OMP_NUM_THREADS": str(max(1, int(self.cpus_per_cell))),
                    "MKL_NUM_THREADS": str(max(1, int(self.cpus_per_cell)))})
        kwargs = {"runtime_env": {"env_vars": env}, "log_to_driver": False}
        if self.address is None:
            kwargs.update(num_cpus=self.num_cpus, include_dashboard=False)
        else:
            kwargs["address"] = self.address
        self.ray.init(**kwargs)

    def map(self, fn: CellFn, specs: Sequence[dict], run_dir: str) -> Iterator[dict]:
        self._init()
        remote = self.ray.remote(num_cpus=self.cpus_per_cell, max_retries=0)(fn)
        pending = [remote.remote(spec, run_dir) for spec in specs]
        while pending:
            done, pending = self.ray.wait(pending, num_returns=1)
            yield self.ray.get(done[0])

    def shutdown(self) -> None:
        if self.ray.is_initialized():
            self.ray.shutdown()


EXECUTORS: dict[str, type] = {"inprocess": InProcessExecutor, "ray": RayExecutor}


def make_executor(name: str, address: str | None = None, num_cpus: int | None = None) -> Executor:
    if name == "inprocess":
        return InProcessExecutor()
    if name == "ray":
        return RayExecutor(address=address, num_cpus=num_cpus)
    raise ConfigError(f"executor {name!r} is unknown: use one of {sorted(EXECUTORS)}")
