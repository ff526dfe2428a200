"""The report with a method that has no rounds (GMP-ATL) beside AL methods: built from synthetic cells."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from after.reports.results_report import MARK, build_report
from after.results.store import ResultsStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))
from synthetic_cells import make_cell  # noqa: E402

PAIRS = [(f, s) for f in (1, 2, 3) for s in (0, 1)]
NOISE = np.array([0.01, -0.02, 0.015, 0.0, -0.01, 0.02])


def gmpatl_cell(ratio: float, fold: int, seed: int, ua: float):
    cell = make_cell("grid", "GMP-ATL", ratio, fold, seed, ua=ua, strategy="none", baseline=False)
    return dataclasses.replace(cell, init="random", aulc=None, rounds=[],
                               seconds={"setup": 2.0, "multitask": 3.0, "pseudo_labels": 1.0, "retrain": 2.0,
                                        "train": 3.0, "evaluate": 1.0},
                               artifacts={"train_ids": {"value": [f"clip{i}" for i in range(int(100 * ratio))]}})


def test_a_method_without_rounds_is_tabled_marked_and_leaves_the_tsne_to_the_al_method(tmp_path):
    store = ResultsStore(tmp_path / "run")
    rng = np.random.default_rng(0)
    emb = tmp_path / "pool.npy"
    np.save(emb, rng.normal(size=(60, 8)))
    pool_ids = [f"clip{i}" for i in range(60)]
    for ratio in (0.2, 1.0):
        for (fold, seed), noise in zip(PAIRS, NOISE):
            store.write_cell(make_cell("grid", "FT+Random", ratio, fold, seed, ua=0.5 + noise))
            after = make_cell("grid", "AFTER", ratio, fold, seed, ua=0.52 + noise, strategy="entropy",
                              baseline=False)
            for rec in after.rounds:
                rec["selected"] = [f"clip{i}" for i in rng.choice(60, 5, replace=False)]
            after.artifacts = {"pool_embeddings": {"path": str(emb)}, "pool_ids": {"value": pool_ids}}
            store.write_cell(after)
            # GMP-ATL: clearly above FT+Random at 20 % (a mark is due), level at 100 % (none)
            jitter = 0.004 * (fold - 2) + 0.003 * seed
            store.write_cell(gmpatl_cell(ratio, fold, seed, ua=(0.7 if ratio == 0.2 else 0.5) + noise + jitter))
    out = tmp_path / "report"
    _, md_path = build_report(tmp_path / "run", out)
    md = md_path.read_text()
    row20 = next(ln for ln in md.splitlines() if ln.startswith("| 20 % |") and "±" in ln)
    cols = [c.strip() for c in row20.strip("|").split("|")]
    header = next(ln for ln in md.splitlines() if ln.startswith("| label ratio |") and "GMP-ATL UA" in ln)
    names = [c.strip() for c in header.strip("|").split("|")]
    assert cols[names.index("GMP-ATL UA")].endswith(MARK)
    row100 = next(ln for ln in md.splitlines() if ln.startswith("| 100 % |") and "±" in ln)
    assert MARK not in [c.strip() for c in row100.strip("|").split("|")][names.index("GMP-ATL UA")]
    # the t-SNE of picks is AFTER's (the AL method), not skipped because GMP-ATL has no picks
    assert (out / "tsne_selection.png").is_file() and "stored with the AFTER cell" in md
    # stages a method does not have are "-", not a fake 0 %
    stage_rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.strip("|").split("|")]
                  for ln in md.splitlines() if ln.startswith("| GMP-ATL |") or ln.startswith("| FT+Random |")}
    stage_header = next([c.strip() for c in ln.strip("|").split("|")] for ln in md.splitlines()
                        if ln.startswith("| method |") and "multitask" in ln)
    assert stage_rows["GMP-ATL"][stage_header.index("select")] == "-"
    assert stage_rows["FT+Random"][stage_header.index("multitask")] == "-"
    assert stage_rows["GMP-ATL"][stage_header.index("multitask")] == "25 %"    # 3 of 12 s
    assert "GMP-ATL: no rounds" in md and "(+" in md    # time saved against FT+Random at 100 % is given
