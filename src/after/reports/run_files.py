"""Writers for what an experiment leaves in its run directory (numpy + matplotlib only)."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from after.atomic import atomic_open, atomic_write_text


def write_json(obj: Any, path: str | Path) -> Path:
    """Atomic, indented JSON (numpy scalars and arrays converted)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_jsonable))


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def write_predictions(rows: Iterable[dict], labels: Sequence[str], path: str | Path) -> Path:
    """CSV ``id,fold,seed,true,pred,p_<label>...``; ``rows`` carry ``id fold seed true pred proba``."""
    out = Path(path)
    with atomic_open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "fold", "seed", "true", "pred", *(f"p_{c}" for c in labels)])
        for r in rows:
            w.writerow([r["id"], r["fold"], r["seed"], labels[r["true"]], labels[r["pred"]],
                        *(f"{p:.5f}" for p in r["proba"])])
    return out


def plot_confusion(cm: np.ndarray, labels: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (recall per true class) with counts, as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cm = np.asarray(cm, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out = Path(path)
    try:
        with atomic_open(out, "wb") as fh:
            fig.savefig(fh, dpi=120, format="png")
    finally:
        plt.close(fig)
    return out
