"""`after train CONFIG.yaml -o RUN_DIR [--set key=value ...]`: a cross-validated experiment."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("train", help="cross-validated training and evaluation from a config file",
                       description="Train and test on every fold (and seed) of a manifest; write metrics, "
                                   "predictions, a confusion matrix and the resolved config to RUN_DIR.")
    p.add_argument("config", help="experiment YAML (see configs/)")
    p.add_argument("-o", "--output", required=True, help="run directory to create")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.lr=3e-4 --set seeds=[0,1,2]")
    p.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from after.config import load_config
    from after.experiments.train import ExperimentConfig, run_experiment

    cfg = load_config(ExperimentConfig, args.config, args.set)
    console = Console()
    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task({"embed": "embeddings", "folds": "folds x seeds"}.get(stage, stage),
                                            total=total)
            bar.update(tasks[stage], completed=done, total=total)

        metrics = run_experiment(cfg, args.output, config_path=args.config, progress=progress)
    table = Table(title=f"{metrics['backbone']} ({metrics['path']}), {metrics['n_folds']} folds "
                        f"x {len(metrics['seeds'])} seed(s)")
    for col in ("fold", "seed", "UA", "WA", "F1", "epochs"):
        table.add_column(col, justify="right")
    for r in metrics["folds"]:
        table.add_row(str(r["fold"]), str(r["seed"]), f"{r['ua']:.3f}", f"{r['wa']:.3f}", f"{r['f1']:.3f}",
                      str(r["epochs"]))
    table.add_row("mean", "", f"{metrics['ua_mean']:.3f} ± {metrics['ua_std']:.3f}",
                  f"{metrics['wa_mean']:.3f} ± {metrics['wa_std']:.3f}", f"{metrics['f1_mean']:.3f}", "")
    console.print(table)
    console.print(f"run directory: {args.output} (metrics.json, predictions.csv, confusion.png)")
    model = Path(args.output) / "model"
    if (model / "bundle.json").is_file():
        console.print(f"model trained on every labelled clip: {model}  (label new audio: "
                      f"after predict {model} AUDIO_OR_FOLDER -o predictions.csv)", soft_wrap=True)
    return 0
