"""``python -m after.demo`` (what ``make demo`` runs): AFTER's active learning on the shared RAVDESS copy.

1. Prepares ``../shared/data/ravdess`` (relative to the project root), makes 5 speaker-independent folds
   and prints the summary.
2. Runs Algorithm 1 twice on fold 1 (8 classes, pool = the training speakers' clips), with frozen
   whisper-tiny.en features (``../shared/models/whisper-tiny.en``, genuine OpenAI weights) and a
   learned layer mix + MLP head: k-means cold start + entropy acquisition against random + random,
   1 % cold start then rounds up to 30 % of the pool. Prints the learning-curve table and writes
   ``runs/demo/learning_curves.png``.

Everything lands under ``runs/demo/``; a rerun resumes (or reuses) the finished runs.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from rich.console import Console

from after.data.corpora import prepare_ravdess
from after.data.folds import Fold, read_folds, write_folds
from after.data.manifest import Manifest, read_manifest, write_manifest
from after.data.splits import split_by_group

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_RAVDESS = PROJECT_ROOT.parent / "shared" / "data" / "ravdess"
SHARED_MODEL = PROJECT_ROOT.parent / "shared" / "models" / "whisper-tiny.en"
AL_RUNS = {"kmeans+entropy": ["init=kmeans", "strategy=entropy"], "random+random": ["init=random", "strategy=random"]}
RUN_DIR = PROJECT_ROOT / "runs" / "demo"
N_FOLDS = 5
SEED = 0


def prepare_data(run_dir: Path, corpus_root: Path = SHARED_RAVDESS) -> Manifest:
    """The manifest of ``corpus_root``, prepared once and read back on later runs."""
    path = run_dir / "manifest.csv"
    if not path.is_file():
        write_manifest(prepare_ravdess(corpus_root).manifest, path)
    return read_manifest(path)


def make_folds(manifest: Manifest, run_dir: Path) -> list[Fold]:
    """Speaker-independent folds, written once: a rerun reads them back instead of recomputing them."""
    path = run_dir / "folds.csv"
    if not path.is_file():
        write_folds(split_by_group(manifest, "speaker", N_FOLDS, val_fraction=0.1, seed=SEED), path)
    return read_folds(path, known_ids=manifest.ids)


def main(run_dir: Path = RUN_DIR, corpus_root: Path = SHARED_RAVDESS) -> int:
    from after.commands.data import print_summary

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    console = Console(highlight=False, soft_wrap=True)
    if not corpus_root.is_dir():
        console.print(f"The demo needs the shared RAVDESS copy at {corpus_root}, which is absent; skipping. "
                      "Prepare your own corpus with `after prepare CORPUS ROOT -o manifest.csv`.")
        return 0
    manifest = prepare_data(run_dir, corpus_root)
    folds = make_folds(manifest, run_dir)
    print_summary(console, manifest, folds)
    console.print(f"Demo data stage done: {run_dir / 'manifest.csv'}, {run_dir / 'folds.csv'}")
    if not SHARED_MODEL.is_dir():
        console.print(f"Active-learning stage skipped: {SHARED_MODEL} is absent.")
        return 0
    active_learning(run_dir, console)
    return 0


def active_learning(run_dir: Path, console) -> dict[str, list[dict]]:
    """Entropy + k-means against random on fold 1; prints the curves side by side and plots them."""
    from rich.table import Table

    from after.al.records import RoundLog, summarize_rounds
    from after.experiments.active import run_active_learning
    from after.reports.learning_curve import plot_learning_curves

    base = [f"data.manifest={run_dir / 'manifest.csv'}", f"data.folds={run_dir / 'folds.csv'}", "fold=1",
            f"learner.backbone={SHARED_MODEL}", "init_fraction=0.01", "schedule=[0.05,0.1,0.2,0.3]", "seed=0"]
    curves = {}
    for name, overrides in AL_RUNS.items():
        console.print(f"Active learning: {name} ...")
        run_active_learning(None, base + overrides, run_dir / name)
        curves[name] = RoundLog(run_dir / name / "rounds.jsonl").records()
    table = Table(title="RAVDESS fold 1, 8 classes, frozen whisper-tiny.en: test UA by labelled share")
    table.add_column("labelled", justify="right")
    for name in curves:
        table.add_column(f"{name} UA", justify="right")
    for rows in zip(*curves.values()):
        table.add_row(f"{rows[0]['n_labelled']} ({100 * rows[0]['fraction']:.0f}%)",
                      *(f"{r['test_ua']:.3f}" for r in rows))
    table.add_row("AULC", *(f"{summarize_rounds(c)['aulc']:.3f}" for c in curves.values()))
    console.print(table)
    plot = plot_learning_curves(curves, run_dir / "learning_curves.png",
                                title="AFTER active learning, RAVDESS fold 1 (whisper-tiny.en frozen)")
    console.print(f"Learning curves -> {plot}")
    return curves


if __name__ == "__main__":
    sys.exit(main())
