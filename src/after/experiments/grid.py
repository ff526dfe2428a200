"""``after run``: the grid methods x label ratios x folds x seeds, each cell an active-learning run (or,
for ``GMP-ATL``, that pipeline trained once on a random labelled share of the pool).

Run directory::

    config.yaml, fingerprint.json   the grid config and what the results depend on (RunDirectory)
    results.sqlite                  one row per cell and per round (or the database named in the config)
    cells/<cell>/                   each cell's own `after al` run directory (resumable)
    report.html, report.md, *.png   the report, rebuilt from the database after every grid run

A cell whose database row says ``done`` is skipped; a ``running`` one (the grid was killed) resumes from
its directory; a ``failed`` one is tried again. So rerunning the same command finishes a killed grid
without recomputing finished cells, and the database holds every cell once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from after.config import ConfigError, config_to_dict, load_config, resolve_path
from after.experiments.cell import run_cell
from after.experiments.executors import Executor, InProcessExecutor
from after.experiments.gmpatl_cell import GmpatlSection, section_spec, spec_config
from after.experiments.methods import resolve_method
from after.experiments.rundir import RunDirectory
from after.experiments.tapt_stage import (Progress as TaptProgress, TaptSection, make_tapt_stage,
                                          section_config as tapt_section_config)
from after.results.store import ResultsStore, database_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridConfig:
    """The grid. ``al_config`` is an ``after al`` config (data, learner, rounds); each cell overrides its
    strategy, init, budget, fold and seed."""

    al_config: str = ""                 # path, relative to this file
    al_overrides: tuple[str, ...] = ()  # --set style key=value pairs applied to every cell
    methods: tuple[str, ...] = ("FT+Random", "FT+Entropy")   # keys of METHODS or FT+<strategy>[@<init>]
    label_ratios: tuple[float, ...] = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0)   # labelled share each cell ends at
    folds: tuple[int, ...] = (1,)
    seeds: tuple[int, ...] = (0,)
    run_name: str = ""                  # the run's name in the database; default: the run directory's name
    database: str = ""                  # SQLAlchemy URL; default: sqlite:///RUN_DIR/results.sqlite
    reference: str = "FT+Random"        # the report's time saved is against this method at 100 %
    # TAPT methods (TAPT+FT+Random, AFTER): an `after tapt` config and/or overrides, run once per fold on the
    # fold's training clips (see after/experiments/tapt_stage.py)
    tapt: TaptSection = TaptSection()
    # the GMP-ATL method: an `after gmpatl` config and/or overrides (data, fold, seed come from the cells;
    # the encoder from `backbone` or the cells' learner.backbone; see after/experiments/gmpatl_cell.py)
    gmpatl: GmpatlSection = GmpatlSection()


@dataclass(frozen=True)
class TaptEncoder:
    """What a TAPT stage hands the grid for one fold: the encoder the fold's TAPT cells fine-tune (a
    ``learner.backbone`` value: a local folder) and the seconds its pre-training took (counted in each
    cell's wall time, as the paper counts TAPT in AFTER's time)."""

    backbone: str
    seconds: float


# (fold, folder for its encoder) -> the fold's encoder. Called once per fold, before any cell of it runs;
# it must be resumable: called again for a finished fold it returns the same encoder and its seconds.
TaptStage = Callable[[int, Path], TaptEncoder]


def cell_key(method: str, ratio: float, fold: int, seed: int) -> str:
    return f"{method}/r{ratio:g}/f{fold}/s{seed}"


def plan_cells(cfg: GridConfig, config_path: str | Path | None, run_dir: Path,
               tapt_ready: bool = False) -> list[dict]:
    """Every cell's spec (plain dicts, see :data:`after.experiments.cell.SPEC_KEYS`), in grid order."""
    from after.experiments.active import ALConfig

    if not cfg.al_config:
        raise ConfigError("al_config: name the `after al` config the cells run (data, learner, rounds)")
    al_path = resolve_path(cfg.al_config, config_path).resolve()
    base = load_config(ALConfig, al_path, list(cfg.al_overrides))
    if base.oracle not in ("simulated", "auto"):     # auto over a labelled manifest is simulated
        raise ConfigError(f"{al_path}: a grid needs oracle=simulated (labels from the manifest), not {base.oracle}")
    bad = [r for r in cfg.label_ratios if not base.init_fraction < r <= 1.0]
    if bad:
        raise ConfigError(f"label_ratios {bad}: each must lie in ({base.init_fraction}, 1] (above the cold start)")
    run = cfg.run_name or run_dir.resolve().name
    url = cfg.database or database_url(run_dir)
    specs = []
    gmpatl = None
    for name in cfg.methods:
        m = resolve_method(name)
        if m.kind == "gmpatl" and gmpatl is None:
            local = resolve_path(base.learner.backbone, al_path)
            gmpatl = section_spec(cfg.gmpatl, config_path, str(local.resolve()) if local.exists()
                                  else base.learner.backbone)
        if m.tapt and not tapt_ready:
            raise ConfigError(f"method {name!r} needs a TAPT encoder per fold; add a `tapt:` section to the grid "
                              "config (config: an `after tapt` YAML and/or overrides: [steps=100, ...])")
        for ratio in cfg.label_ratios:
            for fold in cfg.folds:
                for seed in cfg.seeds:
                    cell = [f"strategy={m.strategy}", f"init={m.init}",
                            f"budget={round(ratio - base.init_fraction, 10)}"] if m.kind == "al" else []
                    cell += [f"fold={fold}", f"seed={seed}"]
                    specs.append({"run": run, "cell_key": cell_key(name, ratio, fold, seed), "method": name,
                                  "strategy": m.strategy, "init": m.init, "tapt": m.tapt, "baseline": m.baseline,
                                  "label_ratio": float(ratio), "fold": int(fold), "seed": int(seed),
                                  "al_config": str(al_path), "overrides": list(cfg.al_overrides) + cell,
                                  "db_url": url, "kind": m.kind,
                                  **({"gmpatl": gmpatl} if m.kind == "gmpatl" else {})})
    return specs


def run_grid(config_path: str | Path | None, overrides: list[str] | None, run_dir: str | Path,
             executor: Executor | None = None, progress: Callable[[int, int], None] | None = None,
             report: bool = True, tapt_stage: TaptStage | None = None,
             tapt_progress: TaptProgress | None = None,
             cell_progress: Callable[[str, str, int, int], None] | None = None) -> dict:
    """Run or resume the grid in ``run_dir``; returns counts, failures, the database URL and the report path.

    ``tapt_stage`` adapts the encoder once per fold for the methods with ``tapt=True``; by default it is
    built from the config's ``tapt:`` section (``tapt_progress(fold, step, steps, loss)`` follows it);
    without either, those methods are refused. ``cell_progress(cell_key, stage, done, total)`` follows each
    cell's embeddings when cells run in this process.
    """
    from after.experiments.active import ALConfig
    from after.reports.results_report import ReportOptions, build_report

    cfg = load_config(GridConfig, config_path, overrides)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if tapt_stage is None and cfg.tapt.given and cfg.al_config:
        al_path = resolve_path(cfg.al_config, config_path).resolve()
        tapt_stage = make_tapt_stage(cfg.tapt, config_path, al_path, list(cfg.al_overrides), tapt_progress)
    specs = plan_cells(cfg, config_path, run_dir, tapt_ready=tapt_stage is not None)
    al_path = specs[0]["al_config"] if specs else None
    base = config_to_dict(load_config(ALConfig, al_path, list(cfg.al_overrides))) if al_path else {}
    url = cfg.database or database_url(run_dir)
    with RunDirectory(run_dir) as rd:
        store = ResultsStore(url)
        run = specs[0]["run"] if specs else (cfg.run_name or run_dir.resolve().name)
        # only what a cell's result depends on: adding methods, ratios, folds or seeds extends the grid
        sections = _section_settings(cfg, config_path, specs, tapt_used=tapt_stage is not None)
        saved = (rd.saved_fingerprint() or {}).get("config", {})
        for key in ("tapt", "gmpatl"):
            if key not in sections and key in saved:
                sections[key] = saved[key]   # its methods left the grid: their finished cells stay tied to it
        rd.bind({"run": run, "database": url, "al": base, **sections}, {"al_config": al_path} if al_path else {},
                has_results=bool(store.cells(run)),
                # a section first used now: no finished cell depends on it (results of an older after that
                # did not record it are taken as made with it)
                defaults={k: v for k, v in sections.items() if k not in saved})
        todo = [s for s in specs if store.status(s["run"], s["cell_key"]) != "done"]
        log.info("grid %s: %d cells, %d done, %d to run", run, len(specs), len(specs) - len(todo), len(todo))
        if tapt_stage is not None:
            _attach_tapt(todo, tapt_stage, run_dir)
        results = []
        executor = executor or InProcessExecutor()
        fn = partial(run_cell, progress=cell_progress) if cell_progress and isinstance(executor, InProcessExecutor) \
            else run_cell
        for result in executor.map(fn, todo, str(run_dir)):
            results.append(result)
            log.info("cell %s: %s", result["cell_key"], result["status"])
            if progress:
                progress(len(specs) - len(todo) + len(results), len(specs))
        out = {"run": run, "database": url, "cells": len(specs), "skipped": len(specs) - len(todo),
               "ran": len(results), "failed": [r for r in results if r["status"] == "failed"], "report": None}
        if report and store.cells(run):
            out["report"] = str(build_report(url, run_dir, ReportOptions(run=run, reference=cfg.reference))[0])
        store.dispose()
    return out


def _section_settings(cfg: GridConfig, config_path: str | Path | None, specs: list[dict], tapt_used: bool) -> dict:
    """The resolved settings of the ``tapt:`` and ``gmpatl:`` sections the grid's methods use, for the run
    directory's fingerprint: a finished TAPT or GMP-ATL cell depends on them."""
    out = {}
    if tapt_used and cfg.tapt.given and any(s["tapt"] for s in specs):
        out["tapt"] = config_to_dict(tapt_section_config(cfg.tapt, config_path))
    spec = next((s["gmpatl"] for s in specs if s["kind"] == "gmpatl"), None)
    if spec is not None:
        out["gmpatl"] = {"backbone": spec["backbone"], **config_to_dict(spec_config(spec))}
    return out


def _attach_tapt(todo: list[dict], tapt_stage: TaptStage, run_dir: Path) -> None:
    """One TAPT encoder per fold, shared by every TAPT cell of that fold still to run."""
    for fold in sorted({s["fold"] for s in todo if s["tapt"]}):
        encoder = tapt_stage(fold, run_dir / "tapt" / f"fold{fold}")
        for spec in todo:
            if spec["tapt"] and spec["fold"] == fold:
                spec["overrides"] = spec["overrides"] + [f"learner.backbone={encoder.backbone}"]
                spec["stage_seconds"] = {"tapt": float(encoder.seconds)}
