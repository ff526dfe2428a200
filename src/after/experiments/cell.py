"""One grid cell: an active-learning run (or GMP-ATL) in its own directory, stored as one row of the results database.

:func:`run_cell` is a plain module-level function of ``(spec, run_dir)`` with a plain-dict spec, so any
executor can ship it to another process or machine (pickle, Ray); the results database is the only state
it shares with the other cells.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from after.config import ConfigError
from after.results.store import CellResult, ResultsStore

log = logging.getLogger(__name__)

# optional: "stage_seconds" ({stage: seconds} spent for the cell before it ran, e.g. its fold's TAPT);
# "kind" ("gmpatl": a GMP-ATL cell) with "gmpatl" (after.experiments.gmpatl_cell.section_spec)
SPEC_KEYS = ("run", "cell_key", "method", "strategy", "init", "tapt", "baseline", "label_ratio", "fold",
             "seed", "al_config", "overrides", "db_url")


def cell_dir_name(cell_key: str) -> str:
    """``FT+Entropy/r0.2/f1/s0`` -> ``FT+Entropy_r0.2_f1_s0`` (one folder per cell under ``cells/``)."""
    return "".join(ch if ch.isalnum() or ch in "+-.=@" else "_" for ch in cell_key)


def _result(spec: dict, **fields: Any) -> CellResult:
    return CellResult(run=spec["run"], cell_key=spec["cell_key"], method=spec["method"],
                      strategy=spec["strategy"], init=spec["init"], tapt=spec["tapt"],
                      baseline=spec["baseline"], label_ratio=spec["label_ratio"], fold=spec["fold"],
                      seed=spec["seed"], **fields)


def final_evaluation(cell: Path) -> dict:
    """Re-load the cell's last learner and predict its test clips (embeddings come from the cache).

    Returns ``classes``, ``confusion`` (``[C, C]`` counts, rows = true class), ``n_val``, ``pool_ids``,
    ``device`` and ``pool_embeddings`` (``[n_pool, D]``, the cold start's layer: what the t-SNE shows).
    """
    from after.al.records import RoundLog
    from after.backbones.embeddings import pick_device
    from after.config import load_config
    from after.data.sources import load_dataset
    from after.evaluation.metrics import confusion_matrix
    from after.experiments.active import ALConfig, _pool_ids, build_learner

    config = cell / "config.yaml"
    cfg = load_config(ALConfig, config)
    manifest, folds = load_dataset(cfg.data, config, cell)
    fold = {f.index: f for f in folds}[cfg.fold]
    classes = manifest.labels()
    pool_ids = _pool_ids(cfg, fold.train)
    ids = pool_ids + list(fold.val) + list(fold.test)
    learner, feats = build_learner(cfg.learner, [manifest.by_id(i) for i in ids], len(classes), cfg.seed,
                                   n_pool=len(pool_ids))
    last = RoundLog(cell / "rounds.jsonl").records()[-1]["round"]
    learner.load_state(cell / "learner" / f"round_{last}")
    start = len(pool_ids) + len(fold.val)
    proba = learner.predict_proba(np.arange(start, len(ids)))
    y_true = np.array([classes.index(manifest.by_id(i).emotion) for i in fold.test])
    layer = min(cfg.learner.init_layer, feats.shape[1] - 1)
    return {"classes": list(classes), "n_val": len(fold.val), "pool_ids": pool_ids,
            "confusion": confusion_matrix(y_true, proba.argmax(1), len(classes)).tolist(),
            "device": str(pick_device(cfg.learner.device)), "pool_embeddings": feats[:len(pool_ids), layer]}


def _stage_seconds(records: list[dict], wall_al: float, wall_final: float) -> dict[str, float]:
    sums = {k: float(sum(r["seconds"].get(k, 0.0) for r in records)) for k in ("score", "select", "train", "evaluate")}
    # what the rounds do not account for: preparing the data and computing (or loading) the embeddings
    setup = max(0.0, wall_al - sum(sums.values()))
    return {"setup": setup, "selection": sums["score"] + sums["select"], "train": sums["train"],
            "evaluate": sums["evaluate"] + wall_final}


def _al_cell(spec: dict, cell: Path, step: Callable[[str, int, int], None] | None) -> dict:
    """An active-learning cell: `after al` in ``cell``, then its final evaluation; the CellResult fields."""
    from after.al.records import RoundLog, summarize_rounds
    from after.config import config_to_dict, load_config
    from after.experiments.active import ALConfig, run_active_learning

    t0 = time.perf_counter()
    run_active_learning(spec["al_config"], spec["overrides"], cell, progress=step)
    t1 = time.perf_counter()
    final = final_evaluation(cell)
    wall_final = time.perf_counter() - t1
    records = RoundLog(cell / "rounds.jsonl").records()
    summary = summarize_rounds(records)
    bundle = cell / "model"       # `after al`'s model bundle: the learner after the last round
    emb_path = cell / "pool_embeddings.npy"
    np.save(emb_path, np.asarray(final["pool_embeddings"], dtype=np.float32))
    return dict(
        config=config_to_dict(load_config(ALConfig, cell / "config.yaml")), device=final["device"], cell_dir=str(cell),
        bundle_path=str(bundle) if (bundle / "bundle.json").is_file() else None,
        seconds={**spec.get("stage_seconds", {}), **_stage_seconds(records, t1 - t0, wall_final)},
        test_ua=summary["test_ua"], test_wa=summary["test_wa"], test_f1=summary["test_f1"],
        aulc=summary["aulc"], n_labelled=summary["n_labelled"], n_val_labels=final["n_val"],
        pool_size=len(final["pool_ids"]), classes=final["classes"], confusion=final["confusion"],
        rounds=records,
        artifacts={"pool_embeddings": {"path": str(emb_path)}, "pool_ids": {"value": final["pool_ids"]}})


def run_cell(spec: dict, run_dir: str, progress: Callable[[str, str, int, int], None] | None = None) -> dict:
    """Run (or resume) one cell and store it; returns ``{cell_key, status, test_ua, test_wa, error}``.

    A spec with ``kind: gmpatl`` runs GMP-ATL on a labelled share of the pool
    (:mod:`after.experiments.gmpatl_cell`); any other an `after al` run. A failure is stored as a ``failed``
    row with its message and does not stop the grid. ``progress(cell_key, stage, done, total)`` follows the
    cell's embeddings or training stages (in-process executors only: it does not cross processes).
    """
    from after.experiments.gmpatl_cell import gmpatl_cell

    missing = [k for k in SPEC_KEYS + (("gmpatl",) if spec.get("kind") == "gmpatl" else ()) if k not in spec]
    if missing:
        raise ConfigError(f"cell spec lacks {missing}; build specs with after.experiments.grid.plan_cells")
    store = ResultsStore(spec["db_url"])
    cell = Path(run_dir) / "cells" / cell_dir_name(spec["cell_key"])
    started = time.time()
    store.write_cell(_result(spec, status="running", config={"overrides": spec["overrides"]},
                             cell_dir=str(cell), started_at=started))
    try:
        step = (lambda stage, done, total: progress(spec["cell_key"], stage, done, total)) if progress else None
        body = gmpatl_cell if spec.get("kind") == "gmpatl" else _al_cell
        result = _result(spec, status="done", started_at=started, **body(spec, cell, step), finished_at=time.time())
    except Exception as exc:   # noqa: BLE001 - one cell's failure is stored, the grid goes on
        log.exception("cell %s failed", spec["cell_key"])
        result = _result(spec, status="failed", error=f"{type(exc).__name__}: {exc}",
                         config={"overrides": spec["overrides"]}, cell_dir=str(cell), started_at=started,
                         finished_at=time.time())
    store.write_cell(result)
    store.dispose()
    return {"cell_key": result.cell_key, "status": result.status, "test_ua": result.test_ua,
            "test_wa": result.test_wa, "error": result.error}
