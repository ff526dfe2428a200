"""The report from a database filled with synthetic cells of known numbers."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ttest_rel

from after.reports.results_report import MARK, ReportOptions, build_report
from after.results.store import ResultsError, ResultsStore
from synthetic_cells import make_cell

FOLDS, SEEDS = (1, 2, 3), (0, 1)
PAIRS = [(f, s) for f in FOLDS for s in SEEDS]
NOISE = np.array([0.01, -0.02, 0.015, 0.0, -0.01, 0.02])        # one value per (fold, seed) pair
JITTER = np.array([0.004, -0.006, 0.001, 0.005, -0.003, -0.001])
UA = {  # (method, ratio) -> UA per pair
    ("FT+Random", 0.2): 0.50 + NOISE, ("FT+Random", 0.4): 0.52 + NOISE, ("FT+Random", 1.0): 0.60 + NOISE,
    ("FT+Entropy", 0.2): 0.55 + NOISE, ("FT+Entropy", 0.4): 0.58 + NOISE, ("FT+Entropy", 1.0): 0.59 + NOISE,
    # AFTER: clearly above the best baseline at 20 %, level with it at 40 % (no mark), below it at 100 %
    ("AFTER", 0.2): 0.70 + NOISE + JITTER, ("AFTER", 0.4): 0.58 + NOISE + JITTER, ("AFTER", 1.0): 0.40 + NOISE,
}
STRATEGY = {"FT+Random": "random", "FT+Entropy": "entropy", "AFTER": "entropy"}


@pytest.fixture()
def filled(tmp_path):
    store = ResultsStore(tmp_path / "run")
    rng = np.random.default_rng(0)
    pool_ids = [f"clip{i}" for i in range(60)]
    emb = tmp_path / "pool.npy"
    np.save(emb, rng.normal(size=(60, 8)))
    for (method, ratio), values in UA.items():
        for (fold, seed), ua in zip(PAIRS, values):
            cell = make_cell("grid", method, ratio, fold, seed, ua=float(ua), wa=float(ua) - 0.03,
                             strategy=STRATEGY[method], baseline=method != "AFTER",
                             seconds=600 * ratio * (0.5 if method == "AFTER" else 1.0))
            for rec in cell.rounds:
                rec["selected"] = [f"clip{i}" for i in rng.choice(60, 5, replace=False)]
            if method == "AFTER":
                cell.artifacts = {"pool_embeddings": {"path": str(emb)}, "pool_ids": {"value": pool_ids}}
            store.write_cell(cell)
    return tmp_path


def _table(md: str, first_header: str) -> tuple[list[str], dict[str, list[str]]]:
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        cols = [c.strip() for c in ln.strip("|").split("|")]
        rows[cols[0]] = cols
    return header, rows


def test_tables_show_the_known_means_and_the_mark_only_where_due(filled):
    html, md_path = build_report(filled / "run", filled / "report")
    md = md_path.read_text()
    header, rows = _table(md, "label ratio")
    assert header[1:] == ["FT+Entropy UA", "FT+Entropy WA", "FT+Random UA", "FT+Random WA", "AFTER UA", "AFTER WA"]
    for (method, ratio), values in UA.items():
        text = rows[f"{100 * ratio:g} %"][header.index(f"{method} UA")]
        assert text.startswith(f"{100 * values.mean():.2f} ± {100 * values.std(ddof=1):.2f}")
        wa = rows[f"{100 * ratio:g} %"][header.index(f"{method} WA")]
        assert wa.startswith(f"{100 * (values - 0.03).mean():.2f} ±")
    marked = {(h, r) for r, cols in rows.items() for h, c in zip(header, cols) if c.endswith(MARK)}
    assert marked == {("AFTER UA", "20 %"), ("AFTER WA", "20 %")}
    # the mark agrees with scipy on the same pairs, and 40 % is indeed not significant
    assert ttest_rel(UA[("AFTER", 0.2)], UA[("FT+Entropy", 0.2)], alternative="greater").pvalue < 0.05
    assert ttest_rel(UA[("AFTER", 0.4)], UA[("FT+Entropy", 0.4)], alternative="greater").pvalue >= 0.05
    assert "scipy.stats.ttest_rel" in md and "scipy.stats.ttest_rel" in html.read_text()


def test_time_saved_labels_and_figures(filled):
    html, md_path = build_report(filled / "run", filled / "report", ReportOptions(reference="FT+Random"))
    md = md_path.read_text()
    # AFTER at 20 %: 0.5 * 600 * 0.2 = 60 s against FT+Random at 100 %: 600 s -> 90 % saved
    assert "1.00 ± 0.00 (+90 %)" in md and "10.00 ± 0.00 (+0 %)" in md
    assert "30 (val 10)" in md and "50 (val 10)" in md    # 100 * ratio training labels + 10 validation
    assert "| method | select | train |" in md and "| AFTER | 25 % | 75 % |" in md   # stage shares
    out = filled / "report"
    for name in ("ua_vs_ratio.png", "time_vs_ratio.png", "tsne_selection.png", "confusion_AFTER.png",
                 "confusion_FT_Random.png"):
        assert (out / name).stat().st_size > 1000
        assert f'src="{name}"' in html.read_text() and f"]({name})" in md


def test_report_refuses_an_empty_target(tmp_path):
    with pytest.raises(ResultsError, match="no results database"):
        build_report(tmp_path, tmp_path / "out")
    ResultsStore(tmp_path)
    with pytest.raises(ResultsError, match="no finished cell"):
        build_report(tmp_path, tmp_path / "out")


def test_cli_report(filled, capsys):
    from after.cli import main

    assert main(["report", str(filled / "run"), "-o", str(filled / "cli")]) == 0
    assert (filled / "cli" / "report.html").is_file() and (filled / "cli" / "report.md").is_file()
    assert str(filled / "cli" / "report.html") in capsys.readouterr().out
    assert main(["report", str(filled / "nothing"), "-o", str(filled / "x")]) == 2
    assert "no results database" in capsys.readouterr().err


def test_one_cell_per_ratio_shows_its_value_without_a_fake_spread_or_nan_tests(tmp_path):
    # the demo's shape: one fold, one seed; "± 0.00" and a table of nan t-tests would read as measured
    store = ResultsStore(tmp_path / "run")
    for method, ua in (("FT+Random", 0.5712), ("AFTER", 0.4625)):
        store.write_cell(make_cell("demo", method, 0.2, 1, 0, ua=ua, strategy=STRATEGY[method],
                                   baseline=method != "AFTER", seconds=120.0))
    html, md_path = build_report(tmp_path / "run", tmp_path / "report")
    md = md_path.read_text()
    header, rows = _table(md, "label ratio")
    assert rows["20 %"][header.index("FT+Random UA")] == "57.12"
    assert rows["20 %"][header.index("AFTER UA")] == "46.25"
    assert "No t-test could be run" in md and "| method | best baseline |" not in md
    assert "±" not in "".join(rows["20 %"])
