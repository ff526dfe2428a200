"""``after al CONFIG.yaml -o RUN_DIR [--set key=value ...]``: an active-learning run (Algorithm 1)."""
from __future__ import annotations

import argparse

from after.commands.arguments import add_config_run_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "al", help="active learning: cold start, acquire, label, fine-tune, evaluate (resumable)",
        description="Run or resume Algorithm 1 of AFTER in RUN_DIR. Killed at any point, the same command "
                    "resumes from the last finished round. With oracle=file, it writes the clips to label "
                    "to RUN_DIR/to_label.csv and exits; fill in the labels and run it again.")
    add_config_run_arguments(p, "YAML config (see configs/al_merged4_entropy.yaml)",
                             "override a config key, e.g. --set strategy=random --set learner.head.lr=3e-4")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from after.al.oracles import LabelsPending
    from after.al.records import RoundLog, curve_table
    from after.experiments.active import run_active_learning

    console = Console(highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            summary = run_active_learning(args.config, args.overrides, args.out, progress=progress)
        except LabelsPending as pending:
            console.print(f"[bold]Labels needed:[/bold] {pending}")
            return 3
    where = "the pool" if summary.get("fold") is None else f"fold {summary['fold']}"
    table = Table(title=f"Learning curve ({summary['init']} + {summary['strategy']}, {where}, seed {summary['seed']})")
    for col in ("round", "labelled", "share", "val UA", "test UA", "test WA", "seconds"):
        table.add_column(col, justify="right")
    for row in curve_table(RoundLog(args.out / "rounds.jsonl").records()):
        table.add_row(str(row["round"]), str(row["n_labelled"]), f"{100 * row['fraction']:.1f}%",
                      _fig(row["val_ua"]), _fig(row["test_ua"]), _fig(row["test_wa"]), f"{row['seconds']:.1f}")
    console.print(table)
    labels = f"{summary['n_labelled']} of {summary['pool_size']} labels"
    if summary.get("n_val_labels"):
        labels += f" (+ {summary['n_val_labels']} validation)"
    if summary.get("n_skipped"):
        labels += f", {summary['n_skipped']} skipped"
    if summary.get("test_ua") is None:
        console.print(f"No test figures: {summary.get('test_note', 'no test clips')}. {labels} -> {args.out}")
    else:
        console.print(f"AULC (test UA) {_fig(summary['aulc'])}; final test UA {_fig(summary['test_ua'])} with "
                      f"{labels} -> {args.out}")
    if (args.out / "model" / "bundle.json").is_file():
        console.print(f"Model: {args.out / 'model'} (label new audio: after predict {args.out / 'model'} AUDIO... -o predictions.csv)")
    return 0


def _fig(value) -> str:
    """A figure for the table; '-' where there is none (no validation or no test set)."""
    return "-" if value is None or value != value else f"{value:.3f}"
