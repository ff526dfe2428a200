"""``python -m after.demo`` (what ``make demo`` runs): the data stage on the shared RAVDESS copy.

Prepares ``../shared/data/ravdess`` (relative to the project root), makes 5 speaker-independent folds
and prints the summary, all under ``runs/demo/``. Later stages (training, active learning) append their
steps to :func:`main`.
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
