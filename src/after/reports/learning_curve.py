"""Learning-curve plots drawn from round records alone (``rounds.jsonl``)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from after.atomic import atomic_open


def plot_learning_curves(curves: Mapping[str, Sequence[Mapping]], path: str | Path,
                         metric: str = "test_ua", title: str = "") -> Path:
    """One line per run: ``metric`` against the labelled fraction (in %). Returns the PNG path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, records in curves.items():
        x = [100 * r["fraction"] for r in records]
        ax.plot(x, [r[metric] for r in records], marker="o", label=name)
    ax.set_xlabel("labelled share of the pool (%)")
    ax.set_ylabel(metric.replace("_", " ").upper().replace("TEST ", "test ").replace("VAL ", "val "))
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    out = Path(path)
    try:
        with atomic_open(out, "wb") as fh:
            fig.savefig(fh, format="png")
    finally:
        plt.close(fig)
    return out
