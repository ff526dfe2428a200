"""The paper's time claim, measured in one run: AFTER at 20 % of the labels against fine-tuning on 100 %.

Two `after run` grids on the same pool (RAVDESS speaker fold 1 of 5, 8 classes, configs/demo_al.yaml:
whisper-tiny.en, frozen encoder + learned layer mix + MLP head, i.e. the CPU-scale form of "FT"), one after
the other in this process, each with its own empty embedding cache so that both pay for their embeddings:

- AFTER r0.2: TAPT of the encoder on the fold's training clips (configs/demo.yaml's short TAPT, or
  ``--tapt-steps``), k-means cold start (2 %), 3 entropy rounds up to 20 % of the pool;
- FT 100 %: the cold start (2 %, random) and one round that labels the rest of the pool: the whole pool.

Prints each run's wall-clock per stage (tapt, setup = data + embeddings, selection, train, evaluate), the
share of each, and the ratio AFTER / FT-100 %.

    nice -n 10 python bench/bench_after_time.py [--tapt-steps 20] [--out bench/out/after_time]
        [--set learner.kind=finetune ...]   # the paper's setting (the encoder fine-tuned every round): a GPU
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("tapt", "setup", "selection", "train", "evaluate")


def grid_file(out: Path, name: str, methods: list[str], ratio: float, al_overrides: list[str],
              tapt_steps: int) -> Path:
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    tapt = dict(demo["tapt"], config=str(ROOT / "configs" / demo["tapt"]["config"]))
    tapt["overrides"] = [o for o in tapt["overrides"] if not o.startswith("steps=")] + [f"steps={tapt_steps}"]
    cfg = {"al_config": str(ROOT / "configs" / "demo_al.yaml"), "methods": methods, "label_ratios": [ratio],
           "folds": [1], "seeds": [0], "reference": methods[0], "tapt": tapt,
           "al_overrides": al_overrides + [f"learner.cache_dir={out / (name + '_cache')}"]}
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run(out: Path, name: str, grid: Path) -> tuple[dict, float]:
    from after.experiments.grid import run_grid
    from after.results.store import ResultsStore

    t0 = time.perf_counter()
    result = run_grid(grid, [], out / name, report=False)
    wall = time.perf_counter() - t0
    if result["failed"]:
        sys.exit(f"{name} failed: {result['failed']}")
    (cell,) = ResultsStore(out / name).cells()
    return cell, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "after_time")
    ap.add_argument("--tapt-steps", type=int, default=20)
    ap.add_argument("--set", dest="al_set", action="append", default=[], metavar="KEY=VALUE",
                    help="an `after al` override for both runs, e.g. --set learner.kind=finetune")
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    after = grid_file(args.out, "after_r0.2", ["AFTER"], 0.2, list(args.al_set), args.tapt_steps)
    full = grid_file(args.out, "ft_r1.0", ["FT+random@random"], 1.0, list(args.al_set) + ["rounds=1"], args.tapt_steps)
    rows = {"AFTER, 20 %": run(args.out, "after_r0.2", after), "FT, 100 %": run(args.out, "ft_r1.0", full)}
    print("| run | labels (pool + val) | test UA | " + " | ".join(f"{s} s (share)" for s in STAGES)
          + " | sum of stages s | wall s |")
    print("|---|---|---|" + "---|" * (len(STAGES) + 2))
    totals = {}
    for name, (cell, wall) in rows.items():
        sec = cell["seconds"]
        total = sum(sec.get(s, 0.0) for s in STAGES)
        totals[name] = total
        shares = " | ".join(f"{sec.get(s, 0.0):.1f} ({100 * sec.get(s, 0.0) / total:.0f} %)" for s in STAGES)
        print(f"| {name} | {cell['n_labelled']} + {cell['n_val_labels']} | {cell['test_ua']:.3f} | {shares} | "
              f"{total:.1f} | {wall:.1f} |")
    a, f = totals["AFTER, 20 %"], totals["FT, 100 %"]
    print(f"\nAFTER 20 % / FT 100 % time: {a / f:.2f} (sum of stages; < 1 means AFTER is faster)")


if __name__ == "__main__":
    main()
