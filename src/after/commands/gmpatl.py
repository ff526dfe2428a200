"""`after gmpatl CONFIG -o RUN_DIR [--set key=value ...]`: GMP-ATL (or pseudo-TAPT) on one fold."""
from __future__ import annotations

import argparse

DESCRIPTION = """\
GMP-ATL (Pan et al. 2024, arXiv 2405.02151) on one fold (`fold:` in the config), in four stages:
  1. multi-task fine-tuning on the fold's labelled training clips: emotion and gender (the manifest's
     `gender` column; unknown gender is left out of its loss) as two heads on the pooled encoder output,
     early stopping on the fold's validation clips;
  2. frame features of one intermediate layer of that model (`pseudo_labels.layer`) on the TRAINING clips
     only, clustered by MiniBatchKMeans at several scales (`pseudo_labels.n_clusters`, default 64, 256,
     1024, on at most `pseudo_labels.max_frames` sampled frames): every training frame gets one id per scale;
  3. retraining: spans of the encoder's input frames are replaced by a learned mask vector
     (`retrain.mask_prob`, `retrain.mask_span`), one linear head per scale predicts the masked frames' ids
     (summed cross-entropy), plus the gender loss weighted by `gender_weight` (lambda); `retrain.epochs`;
  4. utterance-level fine-tuning for emotion with cross-entropy or AM-Softmax (`emotion_loss.loss`,
     `.margin`, `.scale`), early stopping on validation.
Then UA / WA / macro-F1 on the fold's test clips go to RUN_DIR/metrics.json (with every stage's
wall-clock), predictions to predictions.csv, and the model to RUN_DIR/model/.
Pseudo-TAPT (Chen and Rudnicky) is the same pipeline without gender: `--set gender_weight=0` (then no
gender column is needed). Only the paper's abstract is public: the layer, the k-means sizes and sampling,
the masking, lambda, the epoch counts and the loss are our choices, all in the config.
Each stage's output is kept in RUN_DIR/stages/; rerunning the same command reuses finished stages."""


def register(sub) -> None:
    p = sub.add_parser("gmpatl", help="GMP-ATL / pseudo-TAPT: multi-task, k-means pseudo-labels, retrain, fine-tune",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="GMP-ATL YAML (see configs/gmpatl_*.yaml)")
    p.add_argument("-o", "--output", required=True, help="run directory (created; rerun to resume)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set gender_weight=0 --set retrain.epochs=1")
    p.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from after.config import load_config
    from after.experiments.gmpatl import run_gmpatl
    from after.training.gmpatl.config import GMPATLConfig

    cfg = load_config(GMPATLConfig, args.config, args.set)
    console = Console()
    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks or bar.tasks[tasks[stage]].completed > done:
                tasks[stage] = bar.add_task(f"{stage} batches", total=total)
            bar.update(tasks[stage], completed=done, total=total)

        m = run_gmpatl(cfg, args.output, config_path=args.config, progress=progress)
    console.print(f"{m['method']} fold {m['fold']}: test UA {m['ua']:.3f}  WA {m['wa']:.3f}  F1 {m['f1']:.3f}")
    for name, seconds in m["timings"].items():
        console.print(f"  {name}: {seconds:.1f} s")
    console.print(f"run directory: {args.output} (metrics.json, predictions.csv, model/)")
    return 0
