"""SER metrics in numpy: UA (mean per-class recall), WA (accuracy), macro F1, confusion matrix, summaries.

Labels are integer class indices. UA averages recall over the classes *present in y_true*, so a test fold
without some class is not penalised for it (the usual SER convention; sklearn's balanced_accuracy too).
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np


def _check(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_pred).astype(np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    if t.size == 0:
        raise ValueError("cannot score an empty set of predictions")
    return t, p


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """``[c, c]`` counts, rows = true class, columns = predicted class."""
    t, p = _check(y_true, y_pred)
    c = int(n_classes if n_classes is not None else max(t.max(), p.max()) + 1)
    if t.min() < 0 or p.min() < 0 or t.max() >= c or p.max() >= c:
        raise ValueError(f"labels must lie in [0, {c}); got y_true in [{t.min()}, {t.max()}], "
                         f"y_pred in [{p.min()}, {p.max()}]")
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def unweighted_accuracy(y_true, y_pred) -> float:
    """UA: mean over classes present in ``y_true`` of the per-class recall."""
    t, p = _check(y_true, y_pred)
    classes = np.unique(t)
    return float(np.mean([np.mean(p[t == k] == k) for k in classes]))


def weighted_accuracy(y_true, y_pred) -> float:
    """WA: the fraction of correct predictions (overall accuracy)."""
    t, p = _check(y_true, y_pred)
    return float(np.mean(t == p))


def macro_f1(y_true, y_pred) -> float:
    """Unweighted mean of per-class F1 over the classes in ``y_true`` or ``y_pred`` (F1 = 0 where undefined)."""
    t, p = _check(y_true, y_pred)
    scores = []
    for k in np.union1d(t, p):
        tp = np.sum((t == k) & (p == k))
        denom = np.sum(t == k) + np.sum(p == k)
        scores.append(2.0 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def summarize(runs: Iterable[Mapping[str, float]], keys: Iterable[str] = ("ua", "wa", "f1")) -> dict[str, float]:
    """Mean and (population, ddof=0) std over folds/seeds: ``{"ua_mean", "ua_std", ...}``."""
    rows = list(runs)
    if not rows:
        raise ValueError("summarize needs at least one run")
    out: dict[str, float] = {"n_runs": len(rows)}
    for k in keys:
        v = np.asarray([r[k] for r in rows], dtype=np.float64)
        out[f"{k}_mean"] = float(v.mean())
        out[f"{k}_std"] = float(v.std())
    return out
