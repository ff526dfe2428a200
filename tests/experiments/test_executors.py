"""Executors: a local Ray instance (2 CPUs) gives the same results table as the in-process executor."""
from __future__ import annotations

import pytest

from after.experiments.executors import InProcessExecutor, make_executor
from after.experiments.grid import run_grid
from after.config import ConfigError
from grid_corpus import write_grid
from test_grid import table


def test_unknown_executor_is_refused():
    with pytest.raises(ConfigError, match="executor 'dask' is unknown"):
        make_executor("dask")


def test_ray_local_gives_the_in_process_table(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'after[ray]'")
    from after.experiments.executors import RayExecutor

    grid = write_grid(tmp_path, folds=[1], label_ratios=[0.3])    # 2 cells, one per Ray CPU
    serial = run_grid(grid, [], tmp_path / "serial", executor=InProcessExecutor(), report=False)
    ray_exec = RayExecutor(num_cpus=2)
    try:
        parallel = run_grid(grid, [], tmp_path / "ray", executor=ray_exec, report=False)
    finally:
        ray_exec.shutdown()
    assert serial["ran"] == parallel["ran"] == 2 and not serial["failed"] and not parallel["failed"]
    assert table(tmp_path / "ray") == table(tmp_path / "serial")
