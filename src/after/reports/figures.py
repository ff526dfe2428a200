"""The report's PNG figures: UA and time against the label ratio, the t-SNE of the pool (paper Figure 4)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from after.reports.tables import Stat


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(plt, fig, path: str | Path) -> Path:
    """Lay out, write as a 120-dpi PNG (folders made as needed) and close ``fig``."""
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_against_ratio(stats: Mapping[tuple[str, float], Stat], methods: Sequence[str], path: str | Path,
                       ylabel: str, scale: float = 1.0, title: str = "") -> Path:
    """One line per method: mean (error bar = std) of a statistic against the labelled share of the pool."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in methods:
        pts = sorted((r, s) for (mm, r), s in stats.items() if mm == m)
        if not pts:
            continue
        x = [100 * r for r, _ in pts]
        ax.errorbar(x, [scale * s.mean for _, s in pts], yerr=[scale * s.std for _, s in pts], marker="o",
                    capsize=3, label=m)
    ax.set_xlabel("labelled share of the pool (%)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def tsne_2d(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """``[n, d]`` pool embeddings -> ``[n, 2]`` t-SNE coordinates (PCA to 50 dims first when wider)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(embeddings, dtype=np.float64)
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    if x.shape[1] > 50 and x.shape[0] > 50:
        x = PCA(50, random_state=seed).fit_transform(x)
    perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3)))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def plot_selection_tsne(xy: np.ndarray, panels: Sequence[tuple[str, np.ndarray]], path: str | Path,
                        title: str = "") -> Path:
    """One panel per method: the pool in grey, the clips it chose (boolean mask ``[n]``) in red."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, (name, chosen) in zip(axes[0], panels):
        ax.scatter(xy[~chosen, 0], xy[~chosen, 1], s=6, c="#bbbbbb", label="pool")
        ax.scatter(xy[chosen, 0], xy[chosen, 1], s=10, c="#d62728", label=f"chosen ({int(chosen.sum())})")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(plt, fig, path)
