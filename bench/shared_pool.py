"""The 4-class pool the active-learning benchmarks share: angry/happy/neutral/sad merged from the corpora
in ../shared/data (RAVDESS, EmoDB-2s, nEMO, TurEV-DB; 3211 clips)."""
from __future__ import annotations

from pathlib import Path

from after.data.manifest import Manifest
from after.data.sources import DataConfig, load_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = (("ravdess", "ravdess"), ("emodb", "emodb_crop2s"), ("nemo", "nemo"), ("turev", "turev_db"))


def merged_pool(work_dir: Path) -> Manifest:
    """The merged, 4-class manifest (prepared once into ``work_dir``); exits with the reason if data is absent."""
    if not (SHARED / "data").is_dir():
        raise SystemExit(f"skipped: {SHARED / 'data'} not found (the shared corpora are needed)")
    corpora = tuple(f"{name}={SHARED / 'data' / folder}" for name, folder in CORPORA)
    manifest, _ = load_dataset(DataConfig(corpora=corpora, labels="4class", n_folds=4), None, work_dir)
    return manifest
