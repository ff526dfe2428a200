"""``after report RUN_DIR|DB_URL -o DIR``: the HTML page and its Markdown twin, from stored results alone."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="HTML + Markdown report (paper tables, plots) from a results database",
        description="Read the cells stored by `after run` (RUN_DIR/results.sqlite, a .sqlite file or any "
                    "SQLAlchemy URL such as postgresql://user@host/db) and write DIR/report.html, "
                    "DIR/report.md and their PNG plots. Nothing is recomputed but the t-SNE.")
    p.add_argument("target", help="run directory, .sqlite file or database URL")
    p.add_argument("-o", "--out", type=Path, default=None, help="output folder (default: the run directory)")
    p.add_argument("--run", default=None, help="which run, when the database holds several")
    p.add_argument("--reference", default="FT+Random",
                   help="method whose 100 %% cells the time saved is measured against (default FT+Random)")
    p.add_argument("--focus-ratio", type=float, default=None,
                   help="label ratio of the t-SNE and the confusion matrices (default 0.2, else the smallest)")
    p.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from after.reports.results_report import ReportOptions, build_report

    out = args.out
    if out is None:
        if "://" in args.target or not Path(args.target).is_dir():
            raise ValueError("give -o DIR when the target is a database file or URL")
        out = Path(args.target)
    html, md = build_report(args.target, out, ReportOptions(run=args.run, reference=args.reference,
                                                            focus_ratio=args.focus_ratio))
    print(f"report: {html}\nmarkdown: {md}")
    return 0
