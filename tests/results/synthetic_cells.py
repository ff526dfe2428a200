"""Synthetic grid cells with known numbers, for the results database and the report."""
from __future__ import annotations

import numpy as np

from after.results.store import CellResult


def make_cell(run: str, method: str, ratio: float, fold: int, seed: int, ua: float, wa: float | None = None,
              *, strategy: str = "random", baseline: bool = True, seconds: float = 10.0,
              classes=("angry", "happy"), rounds: int = 2) -> CellResult:
    wa = ua if wa is None else wa
    fractions = np.linspace(0.01, ratio, rounds)
    return CellResult(
        run=run, cell_key=f"{method}/r{ratio:g}/f{fold}/s{seed}", method=method, strategy=strategy,
        init="kmeans", label_ratio=ratio, fold=fold, seed=seed,
        config={"strategy": strategy, "budget": ratio, "fold": fold, "seed": seed},
        baseline=baseline, device="cpu", seconds={"select": 0.25 * seconds, "train": 0.75 * seconds},
        test_ua=ua, test_wa=wa, test_f1=ua, aulc=ua, n_labelled=int(100 * ratio), n_val_labels=10,
        pool_size=100, classes=list(classes), confusion=[[8, 2], [3, 7]],
        rounds=[{"round": r, "n_labelled": int(100 * f), "fraction": float(f), "strategy": strategy,
                 "val_ua": ua, "val_wa": wa, "val_f1": ua, "test_ua": ua, "test_wa": wa, "test_f1": ua,
                 "seconds": {"train": 1.0}, "selected": [f"clip{r}_{i}" for i in range(3)]}
                for r, f in enumerate(fractions)],
    )
