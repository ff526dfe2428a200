"""``after run CONFIG -o RUN_DIR``: the whole grid (methods x label ratios x folds x seeds) and its report."""
from __future__ import annotations

import argparse

from after.commands.arguments import add_config_run_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="the grid of active-learning cells, a results database and a report (resumable)",
        description="Run every cell of the grid in CONFIG (methods x label ratios x folds x seeds), each an "
                    "`after al` run in RUN_DIR/cells/, store them in RUN_DIR/results.sqlite (or the "
                    "database the config names) and write RUN_DIR/report.html and report.md. Rerun the "
                    "same command to finish a killed grid: finished cells are skipped.")
    add_config_run_arguments(p, "grid YAML (see configs/grid_*.yaml)",
                             "override a grid key, e.g. --set seeds=[0,1,2]")
    p.add_argument("--executor", choices=("inprocess", "ray"), default="inprocess",
                   help="inprocess (default): cells one after another; ray: cells as Ray tasks "
                        "(pip install 'after[ray]')")
    p.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray instance)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray instance (default: all)")
    p.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from after.experiments.executors import make_executor
    from after.experiments.grid import run_grid

    console = Console(highlight=False)
    executor = make_executor(args.executor, address=args.address, num_cpus=args.num_cpus)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=not console.is_terminal) as bar:
        tapt_tasks: dict[int, int] = {}

        def tapt_progress(fold: int, step: int, total: int, loss: float) -> None:
            if fold not in tapt_tasks:
                tapt_tasks[fold] = bar.add_task(f"TAPT fold {fold} (loss)", total=total)
            bar.update(tapt_tasks[fold], completed=step, total=total,
                       description=f"TAPT fold {fold} (loss {loss:.3f})")

        cell_task = bar.add_task("cell", total=None, visible=False)

        def cell_progress(key: str, stage: str, done: int, total: int) -> None:
            bar.update(cell_task, completed=done, total=total, description=f"{key}: {stage}", visible=done < total)

        task = bar.add_task("grid cells", total=None)
        out = run_grid(args.config, args.overrides, args.out, executor=executor,
                       progress=lambda done, total: bar.update(task, completed=done, total=total),
                       tapt_progress=tapt_progress, cell_progress=cell_progress)
    console.print(f"{out['cells']} cells: {out['skipped']} already done, {out['ran']} run, "
                  f"{len(out['failed'])} failed; results in {out['database']}")
    for f in out["failed"]:
        console.print(f"[red]failed[/red] {f['cell_key']}: {f['error']}")
    if out["report"]:
        console.print(f"report: {out['report']}")
    return 1 if out["failed"] else 0
