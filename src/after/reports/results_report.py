"""``build_report``: the HTML page and its Markdown twin, from a results database alone.

What it shows (paper Tables 2, 3 and 7, Figures 2, 4 and 5): UA and WA mean +- std per method x label
ratio with a mark where a method beats the best baseline in a paired t-test; UA and wall time against the
label ratio and the time saved against the reference method on 100 % of the pool; labels spent (validation
included); the t-SNE of the pool with the clips chosen by random sampling and by AFTER; confusion matrices.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from after.atomic import atomic_write_text
from after.reports import tables as T
from after.reports.document import Document, Image, Section, Table, render_html, render_markdown
from after.reports.figures import plot_against_ratio, plot_selection_tsne, tsne_2d
from after.reports.run_files import plot_confusion
from after.results.store import DB_FILENAME, ResultsError, ResultsStore

log = logging.getLogger(__name__)

MARK = "†"


@dataclass(frozen=True)
class ReportOptions:
    run: str | None = None              # which run of the database; None = its only run
    reference: str = "FT+Random"        # time saved is measured against this method at 100 % labels
    focus_ratio: float | None = None    # ratio of the t-SNE and the confusion matrices; None = 0.2 or the smallest


def open_results(target: str | Path) -> ResultsStore:
    """A run directory, a database file or an SQLAlchemy URL; a directory without results is refused."""
    text = str(target)
    if "://" not in text:
        p = Path(text)
        db = p / DB_FILENAME if p.is_dir() else p
        if not db.is_file():
            raise ResultsError(f"{target}: no results database found (expected {db}); give a run directory "
                               "written by `after run`, a .sqlite file or a database URL")
    return ResultsStore(target)


STAGE_ORDER = ("tapt", "setup", "selection", "select", "score", "multitask", "pseudo_labels", "retrain", "train",
               "evaluate")
NO_ROUNDS = "none"      # the strategy of a method without acquisition rounds (after.experiments.methods)


def _roundless(cells) -> list[str]:
    """Methods trained once on a random labelled share (GMP-ATL): no rounds, picks or learning curve."""
    return list(dict.fromkeys(c["method"] for c in cells if c["strategy"] == NO_ROUNDS))


def _pct(s: T.Stat) -> str:
    """Mean ± std in %; one value has no spread to show, so only its mean."""
    return f"{100 * s.mean:.2f}" + (f" ± {100 * s.std:.2f}" if s.n > 1 else "")


def _minutes(s: T.Stat) -> str:
    return f"{s.mean / 60:.2f}" + (f" ± {s.std / 60:.2f}" if s.n > 1 else "")


def _score_section(cells, methods, ratios) -> Section:
    ua, wa = T.metric_stats(cells, "test_ua"), T.metric_stats(cells, "test_wa")
    tests = T.significance(cells, "test_ua") + T.significance(cells, "test_wa")
    marked = {(t.method, t.label_ratio, t.metric) for t in tests if t.significant}
    header = ["label ratio"] + [f"{m} {k}" for m in methods for k in ("UA", "WA")]
    rows = []
    for r in ratios:
        row = [f"{100 * r:g} %"]
        for m in methods:
            for metric, stats in (("test_ua", ua), ("test_wa", wa)):
                s = stats.get((m, r))
                row.append("" if s is None else _pct(s) + (f" {MARK}" if (m, r, metric) in marked else ""))
        rows.append(row)
    n = sorted({s.n for s in ua.values()})
    test_rows = [[t.method, t.baseline, f"{100 * t.label_ratio:g} %", t.metric.replace("test_", "").upper(),
                  str(t.n_pairs), f"{t.t:.3f}", f"{t.p:.3g}", "yes" if t.significant else "no"] for t in tests]
    testable = any(t.n_pairs > 1 for t in tests)
    untested = ([] if testable or not tests else
                [f"No t-test could be run: each method has one (fold, seed) cell per label ratio. Add folds or "
                 f"seeds for the {MARK} marks and the spread."])
    return Section(
        "UA and WA on the test folds (paper Tables 2, 3 and 7)",
        text=[f"Test UA (mean recall per class) and WA (accuracy), in %, mean ± sample std over "
              f"{'/'.join(map(str, n))} (fold, seed) cells (one cell: its value alone). {MARK}: the method "
              f"beats the best baseline at that label ratio with p < {T.ALPHA} in a {T.TEST_NAME}. Baselines: "
              f"{', '.join(m for m in methods if any(c['baseline'] for c in cells if c['method'] == m))}."]
        + untested,
        tables=[Table(header, rows)] + ([Table(
            ["method", "best baseline", "ratio", "metric", "pairs", "t", "p", f"p < {T.ALPHA}"], test_rows,
            caption="Every test run (nan: fewer than 2 pairs or no spread)")] if testable else []))


def _time_section(cells, methods, ratios, reference, out: Path) -> Section:
    times = T.metric_stats(cells, "seconds_total")
    ref_s, saved = T.time_saved(cells, reference)
    rows = [[f"{100 * r:g} %"] + [("" if (m, r) not in times else _minutes(times[(m, r)])
                                   + ("" if (m, r) not in saved else
                                   f" ({100 * saved[(m, r)]:+.0f} %)")) for m in methods] for r in ratios]
    stages: dict[str, dict[str, float]] = {m: {} for m in methods}
    for c in cells:
        for k, v in c["seconds"].items():
            stages[c["method"]][k] = stages[c["method"]].get(k, 0.0) + v
    seen = list(dict.fromkeys(k for per in stages.values() for k in per))
    names = [k for k in STAGE_ORDER if k in seen] + [k for k in seen if k not in STAGE_ORDER]
    # "-": the method has no such stage (GMP-ATL selects nothing; an AL cell runs no GMP-ATL stage)
    stage_rows = [[m] + [f"{100 * stages[m][k] / (sum(stages[m].values()) or 1.0):.0f} %" if k in stages[m] else "-"
                         for k in names] for m in methods]
    note = (f"In brackets: time saved against {reference} on 100 % of the pool "
            f"({ref_s / 60:.2f} min mean)." if ref_s else
            f"No {reference} cell at 100 % labels is stored, so the time saved cannot be given.")
    img = plot_against_ratio(times, methods, out / "time_vs_ratio.png", "wall time per cell (min)", 1 / 60)
    shared = ("Shared work is counted where it happened: setup (preparing the data, computing or loading "
              "the encoder's embeddings) is long in the first cell of each encoder, which fills the embedding "
              "cache, and short in the cells after it; a fold's TAPT runs once but its seconds are counted in "
              "every cell that uses its encoder, as the paper counts TAPT in AFTER's time.")
    return Section("Wall time (paper Table 2 and Figure 5)",
                   text=["Wall-clock minutes per cell (every stage the cell ran), mean ± std. " + note, shared],
                   tables=[Table(["label ratio"] + list(methods), rows),
                           Table(["method"] + names, stage_rows,
                                 caption="Share of each stage in the method's total time, all cells")],
                   images=[Image(img.name, "Wall time per cell against the label ratio")])


def _labels_section(cells, methods, ratios) -> Section:
    spent = T.labels_spent(cells)
    val = T.metric_stats(cells, "n_val_labels")
    rows = [[f"{100 * r:g} %"] + [("" if (m, r) not in spent else
                                   f"{spent[(m, r)].mean:.0f} (val {val[(m, r)].mean:.0f})") for m in methods]
            for r in ratios]
    once = _roundless(cells)
    return Section("Labels spent", text=["Labels bought per cell: the training labels the active-learning "
                                         "rounds asked for plus the validation clips (labelled too), mean over "
                                         "cells; the validation share in brackets."]
                   + ([f"{', '.join(once)}: no rounds; trained once on a random share of the pool of the label "
                       "ratio's size (drawn with the cell's seed), plus the same validation clips."] if once else []),
                   tables=[Table(["label ratio"] + list(methods), rows)])


def _tsne_section(store, cells, methods, ratio, out: Path) -> Section | None:
    strategies = {c["method"]: c["strategy"] for c in cells}
    rand = next((m for m in methods if strategies[m] == "random"), None)
    smart = next((m for m in reversed(methods) if strategies[m] not in ("random", NO_ROUNDS)), None)
    if rand is None or smart is None:
        return None
    groups = T.by_method_ratio(cells)
    a, b = groups.get((rand, ratio), {}), groups.get((smart, ratio), {})
    for key in sorted(set(a) & set(b)):
        arts = store.artifacts(b[key]["id"])
        emb, ids = arts.get("pool_embeddings"), arts.get("pool_ids")
        if not emb or not emb["path"] or not Path(emb["path"]).is_file() or not ids or ids["value"] is None:
            continue
        pool_ids = list(ids["value"])
        index = {i: n for n, i in enumerate(pool_ids)}
        xy = tsne_2d(np.load(emb["path"]), seed=key[1])
        panels = []
        for name, cell in ((rand, a[key]), (smart, b[key])):
            mask = np.zeros(len(pool_ids), dtype=bool)
            for rec in store.rounds(cell["id"]):
                mask[[index[i] for i in rec["selected"] if i in index]] = True
            panels.append((name, mask))
        img = plot_selection_tsne(xy, panels, out / "tsne_selection.png",
                                  f"fold {key[0]}, seed {key[1]}, {100 * ratio:g} % labels")
        return Section("The clips each method chose (paper Figure 4)",
                       text=[f"t-SNE of the pool embeddings stored with the {smart} cell "
                             f"({Path(emb['path']).name}: its encoder's cold-start layer; both panels share this "
                             f"map); red: the clips labelled by {rand} and by {smart} (cold start included)."],
                       images=[Image(img.name, "t-SNE of the pool with the chosen clips")])
    return None


def _confusion_section(cells, methods, ratio, out: Path) -> Section | None:
    images = []
    for m in methods:
        group = [c for c in cells if c["method"] == m and float(c["label_ratio"]) == ratio and c["confusion"]]
        if not group:
            continue
        cm = np.sum([np.asarray(c["confusion"]) for c in group], axis=0)
        name = f"confusion_{''.join(ch if ch.isalnum() else '_' for ch in m)}.png"
        plot_confusion(cm, group[0]["classes"], out / name, f"{m}, {100 * ratio:g} % ({len(group)} cell{'s' if len(group) > 1 else ''})")
        images.append(Image(name, f"{m}: test confusion, summed over folds and seeds"))
    if not images:
        return None
    return Section(f"Confusion matrices at {100 * ratio:g} % labels", images=images,
                   text=["Rows: true class, normalised to recall; counts below."])


def build_report(target: str | Path, out_dir: str | Path, options: ReportOptions = ReportOptions()) -> tuple[Path, Path]:
    """Write ``report.html``, ``report.md`` and their PNGs to ``out_dir``; returns the two paths."""
    store = open_results(target)
    runs = store.runs()
    if options.run is None and len(runs) > 1:
        raise ResultsError(f"{store.url} holds several runs {runs}; choose one with --run")
    run = options.run or (runs[0] if runs else None)
    cells = store.cells(run) if run else []
    if not cells:
        raise ResultsError(f"{store.url}: no finished cell{f' in run {run!r}' if run else ''}; run the grid first")
    failed = store.cells(run, status="failed")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    methods = T.methods_in_order(cells)
    ratios = sorted({float(c["label_ratio"]) for c in cells})
    focus = options.focus_ratio if options.focus_ratio is not None else (0.2 if 0.2 in ratios else ratios[0])
    ua = T.metric_stats(cells, "test_ua")
    ua_img = plot_against_ratio(ua, methods, out / "ua_vs_ratio.png", "test UA (%)", 100)
    sections = [_score_section(cells, methods, ratios),
                Section("UA against the label ratio (paper Figure 2)",
                        images=[Image(ua_img.name, "Test UA (mean ± std) against the labelled share")]),
                _time_section(cells, methods, ratios, options.reference, out),
                _labels_section(cells, methods, ratios),
                _tsne_section(store, cells, methods, focus, out),
                _confusion_section(cells, methods, focus, out)]
    if failed:
        sections.append(Section("Failed cells", tables=[Table(["cell", "error"],
                                                              [[c["cell_key"], c["error"] or ""] for c in failed])]))
    devices = sorted({c["device"] or "?" for c in cells})
    doc = Document(f"AFTER results: {run}", intro=[
        f"{len(cells)} finished cells ({len(failed)} failed) from {store.url}; methods: {', '.join(methods)}; "
        f"label ratios: {', '.join(f'{100 * r:g} %' for r in ratios)}; device(s): {', '.join(devices)}; "
        f"{len({c['config_hash'] for c in cells})} distinct resolved configs. Built from the stored results alone."],
        sections=[s for s in sections if s is not None])
    html_path, md_path = out / "report.html", out / "report.md"
    atomic_write_text(html_path, render_html(doc))
    atomic_write_text(md_path, render_markdown(doc))
    store.dispose()
    log.info("report written to %s", html_path)
    return html_path, md_path
