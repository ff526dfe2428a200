"""``after tapt CONFIG.yaml -o RUN_DIR [--set key=value ...]``: task-adaptive pre-training of an encoder."""
from __future__ import annotations

import argparse

from after.commands.arguments import add_config_run_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "tapt", help="task-adaptive pre-training: continue an encoder's self-supervised training on unlabelled audio",
        description="Continue the self-supervised training of an encoder (Whisper, wav2vec2, HuBERT, WavLM, "
                    "data2vec-audio) on unlabelled audio: a fold's training clips (never its validation or test "
                    "clips) or every clip of a manifest. Writes RUN_DIR/backbone/, a model folder every command "
                    "accepts as model.backbone / learner.backbone, and RUN_DIR/steps.jsonl. Killed at any point, "
                    "the same command resumes from the last checkpoint.")
    add_config_run_arguments(p, "YAML config (see configs/tapt_whisper_tiny.yaml)",
                             "override a config key, e.g. --set steps=200 --set objective.distillation=1.0")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from after.experiments.tapt import BACKBONE_DIR, run_tapt

    console = Console(highlight=False)
    with Progress(TextColumn("TAPT"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as bar:
        task = bar.add_task("steps", total=None, loss="-")

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=f"{loss:.3f}")

        record = run_tapt(args.config, args.overrides, args.out, progress=progress)
    console.print(f"TAPT: {record['steps']} steps on {record['clips']} clips, final loss "
                  f"{record['final'].get('loss', float('nan')):.4f} -> {args.out / BACKBONE_DIR} (steps: {args.out / 'steps.jsonl'})")
    return 0
