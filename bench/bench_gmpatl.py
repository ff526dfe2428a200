"""GMP-ATL against plain fine-tuning (`after train`, same encoder, freeze policy, crop and learning rates)
on one speaker-independent fold of a RAVDESS speaker subset, with the wall-clock of every GMP-ATL stage.

    nice -n 10 python bench/bench_gmpatl.py --speakers 8 --out bench/out/gmpatl

Both systems read the same manifest + folds (written to --out) and the same fold; the plain baseline gets
the epoch budget of GMP-ATL's two labelled stages together (stage 1 + stage 4). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_data(out: Path, n_speakers: int, n_folds: int) -> tuple[Path, Path]:
    from after.data.corpora import get_recipe
    from after.data.folds import write_folds
    from after.data.manifest import write_manifest
    from after.data.splits import split_by_group
    if (out / "manifest.csv").is_file() and (out / "folds.csv").is_file():
        return out / "manifest.csv", out / "folds.csv"      # a rerun: the same data as before
    manifest = get_recipe("ravdess")(ROOT.parent / "shared" / "data" / "ravdess").manifest
    keep = set(manifest.speakers()[:n_speakers])
    manifest = manifest.filter(lambda u: u.speaker in keep)
    write_manifest(manifest, out / "manifest.csv")
    write_folds(split_by_group(manifest, "speaker", n_folds, 0.15, 0), out / "folds.csv")
    return out / "manifest.csv", out / "folds.csv"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speakers", type=int, default=8)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--out", default="bench/out/gmpatl")
    ap.add_argument("--set", action="append", default=[], help="override of the GMP-ATL config")
    ap.add_argument("--run", default="gmpatl", help="GMP-ATL run directory name under --out")
    ap.add_argument("--skip-baseline", action="store_true", help="run only GMP-ATL (the baseline can run "
                    "beside it as `after train`)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from after.config import load_config
    from after.experiments.gmpatl import run_gmpatl
    from after.experiments.train import ExperimentConfig, run_experiment
    from after.training.config import TrainConfig
    from after.training.gmpatl.config import GMPATLConfig
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    man, folds = make_data(out, args.speakers, args.folds)
    data = [f"data.manifest={man}", f"data.folds={folds}", "data.corpora="]
    cfg_path = ROOT / "configs" / "gmpatl_whisper_tiny.yaml"
    cfg = load_config(GMPATLConfig, cfg_path, data + args.set)
    rows = {}
    t = time.perf_counter()
    g = run_gmpatl(cfg, out / args.run, config_path=cfg_path)
    rows["GMP-ATL" if g["method"] == "gmp-atl" else "pseudo-TAPT"] = {**g, "wall_s": time.perf_counter() - t}
    if not args.skip_baseline:
        mt, ft = cfg.multitask, cfg.finetune
        base = ExperimentConfig(data=cfg.data, model=cfg.model, head=cfg.head, seeds=(cfg.seed,), max_folds=1,
                                save_checkpoints=False,
                                train=TrainConfig(lr=ft.lr, head_lr=ft.head_lr, max_epochs=mt.max_epochs + ft.max_epochs,
                                                  patience=ft.patience, batch_seconds=ft.batch_seconds,
                                                  max_clip_s=ft.max_clip_s))
        if cfg.fold != 1:
            raise SystemExit("the baseline runs the first fold (max_folds=1): keep fold: 1")
        t = time.perf_counter()
        b = run_experiment(base, out / "plain_finetune", config_path=cfg_path)
        r = b["folds"][0]
        rows["plain fine-tuning"] = {"ua": r["ua"], "wa": r["wa"], "f1": r["f1"], "wall_s": time.perf_counter() - t,
                                     "epochs": r["epochs"], "n_train": r["n_train"], "n_test": r["n_test"]}
    print(f"\nfold 1 of {args.folds}, {args.speakers} RAVDESS speakers, {cfg.model.backbone}")
    print("| system | UA | WA | macro-F1 | wall-clock (s) |\n|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['ua']:.3f} | {r['wa']:.3f} | {r['f1']:.3f} | {r['wall_s']:.0f} |")
    print("\n| GMP-ATL stage | seconds | epochs |\n|---|---|---|")
    for name, s in g["stages"].items():
        print(f"| {name} | {s['seconds']:.0f} | {s.get('epochs', '-')} |")
    (out / "summary.json").write_text(json.dumps({k: {kk: v[kk] for kk in ("ua", "wa", "f1", "wall_s")}
                                                  for k, v in rows.items()}, indent=1))


if __name__ == "__main__":
    main()
