"""The paper's tables from stored cells: mean +- std per method x label ratio, and the paired t-test mark.

Cells are the dicts :meth:`after.results.store.ResultsStore.cells` returns (``method``, ``label_ratio``,
``fold``, ``seed``, ``baseline``, ``test_ua``, ``test_wa``, ``seconds_total``, ``n_labelled``,
``n_val_labels``). numpy and scipy only.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy.stats import ttest_rel

ALPHA = 0.05
TEST_NAME = ("one-sided paired t-test (scipy.stats.ttest_rel, alternative='greater') over the (fold, seed) "
             "pairs both methods ran, against the baseline with the highest mean at that label ratio")


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (ddof=1; 0 for one value) of ``n`` values."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stat":
        v = np.asarray(values, dtype=np.float64)
        return cls(float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v))


@dataclass(frozen=True)
class Significance:
    """A non-baseline method against the best baseline at one label ratio, for one metric."""

    method: str
    baseline: str
    label_ratio: float
    metric: str
    n_pairs: int
    t: float
    p: float

    @property
    def significant(self) -> bool:
        return bool(np.isfinite(self.p) and self.p < ALPHA)


def methods_in_order(cells: Iterable[Mapping]) -> list[str]:
    """Baselines first, then the others, each in first-seen order."""
    seen: dict[str, bool] = {}
    for c in cells:
        seen.setdefault(c["method"], bool(c["baseline"]))
    return [m for m, b in seen.items() if b] + [m for m, b in seen.items() if not b]


def by_method_ratio(cells: Iterable[Mapping]) -> dict[tuple[str, float], dict[tuple[int, int], Mapping]]:
    """``{(method, ratio): {(fold, seed): cell}}``."""
    out: dict = defaultdict(dict)
    for c in cells:
        out[(c["method"], float(c["label_ratio"]))][(int(c["fold"]), int(c["seed"]))] = c
    return dict(out)


def metric_stats(cells: Iterable[Mapping], metric: str) -> dict[tuple[str, float], Stat]:
    """``{(method, ratio): Stat}`` of ``metric`` (a cell column, e.g. ``test_ua``) over folds and seeds."""
    return {k: Stat.of([c[metric] for c in group.values()])
            for k, group in by_method_ratio(cells).items() if all(c.get(metric) is not None for c in group.values())}


def significance(cells: Sequence[Mapping], metric: str) -> list[Significance]:
    """Every non-baseline method against the best baseline (highest mean ``metric``) at each ratio."""
    groups = by_method_ratio(cells)
    baselines = {c["method"] for c in cells if c["baseline"]}
    out = []
    for ratio in sorted({r for _, r in groups}):
        present = {m: g for (m, r), g in groups.items() if r == ratio}
        base = {m: g for m, g in present.items() if m in baselines}
        if not base:
            continue
        best = max(base, key=lambda m: np.mean([c[metric] for c in base[m].values()]))
        for method, group in present.items():
            if method in baselines:
                continue
            pairs = sorted(set(group) & set(base[best]))
            if len(pairs) < 2:
                out.append(Significance(method, best, ratio, metric, len(pairs), float("nan"), float("nan")))
                continue
            a = np.array([group[k][metric] for k in pairs], dtype=np.float64)
            b = np.array([base[best][k][metric] for k in pairs], dtype=np.float64)
            if np.allclose(a - b, (a - b)[0]):   # no spread in the differences: t is undefined
                t, p = float("nan"), float("nan")
            else:
                t, p = ttest_rel(a, b, alternative="greater")
            out.append(Significance(method, best, ratio, metric, len(pairs), float(t), float(p)))
    return out


def time_saved(cells: Sequence[Mapping], reference: str) -> tuple[float | None, dict[tuple[str, float], float]]:
    """Mean wall time of ``reference`` at 100 % labels, and ``1 - t(method, ratio) / t_ref`` for every cell group."""
    times = metric_stats(cells, "seconds_total")
    ref = times.get((reference, 1.0))
    if ref is None or ref.mean <= 0:
        return None, {}
    return ref.mean, {k: 1.0 - s.mean / ref.mean for k, s in times.items()}


def labels_spent(cells: Sequence[Mapping]) -> dict[tuple[str, float], Stat]:
    """Labels bought per cell, training and validation together."""
    return {k: Stat.of([(c["n_labelled"] or 0) + (c["n_val_labels"] or 0) for c in g.values()])
            for k, g in by_method_ratio(cells).items()}
