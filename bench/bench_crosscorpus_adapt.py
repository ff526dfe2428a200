"""Cross-corpus, the case TAPT is for (issue 10): train a frozen-encoder head on three shared corpora (4
classes), test on the fourth, with the cheap adaptations TAPT has to beat and with a TAPT encoder.

Leave-one-corpus-out folds over a merged 4-class manifest (the one `after train
configs/merged4_whisper_tiny_frozen.yaml` writes): fold k holds out corpus k entirely as its test set;
validation = one seeded speaker of each training corpus (early stopping), training = the rest. Each row
is an ordinary `after train` run on that manifest + folds file (head config of
configs/merged4_whisper_tiny_frozen.yaml, refit on train + val, 3 head seeds), varying only
``head.normalize`` (global | corpus | speaker) and ``model.backbone`` (the original encoder, or a TAPT
folder adapted on the held-out corpus's unlabelled audio). Per-group statistics use each corpus's /
speaker's own clips, test ones included: their audio, never their labels.

    python bench/bench_crosscorpus_adapt.py --manifest runs/merged4_frozen/manifest.csv \
        --heldout emodb_crop2s --out runs/xcorpus \
        --row base=../shared/models/whisper-tiny.en:global,corpus,speaker \
        --row tapt_distill=runs/tapt_emodb_distill/backbone:global,corpus,speaker
"""
from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "merged4_whisper_tiny_frozen.yaml"


def write_corpus_folds(manifest_path: Path, heldout: list[str], out: Path, seed: int = 0) -> Path:
    """Fold i holds out corpus ``heldout[i]``; val = one seeded speaker per training corpus."""
    rows = list(csv.DictReader(open(manifest_path, newline="", encoding="utf-8")))   # every row: the folds
    # cover the whole manifest; `after train` then keeps the rows of labels: 4class
    speakers = defaultdict(set)
    for r in rows:
        speakers[r["corpus"]].add(r["speaker"])
    missing = [c for c in heldout if c not in speakers]
    if missing:
        raise SystemExit(f"{manifest_path}: no corpus {missing}; corpora: {sorted(speakers)}")
    rng = np.random.default_rng(seed)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "fold", "split"])
        for k, test_corpus in enumerate(heldout, start=1):
            val = {(c, sorted(s)[rng.integers(len(s))]) for c, s in speakers.items() if c != test_corpus}
            for r in rows:
                split = "test" if r["corpus"] == test_corpus else (
                    "val" if (r["corpus"], r["speaker"]) in val else "train")
                w.writerow([r["id"], k, split])
    return out


def recalls(confusion: np.ndarray) -> np.ndarray:
    support = confusion.sum(1)
    return np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)


def run_row(manifest: Path, folds: Path, backbone: str, normalize: str, n_folds: int, seeds: list[int],
            run_dir: Path, refit: bool) -> dict:
    from after.config import load_config
    from after.experiments.train import ExperimentConfig, run_experiment
    cfg = load_config(ExperimentConfig, CONFIG, [
        "data.corpora=[]", f"data.manifest={manifest.resolve()}", f"data.folds={folds.resolve()}",
        f"model.backbone={Path(backbone).resolve()}", f"head.normalize={normalize}",
        f"max_folds={n_folds}", f"seeds=[{','.join(map(str, seeds))}]", f"refit={str(refit).lower()}"])
    return run_experiment(cfg, run_dir, config_path=CONFIG)


def all_clip_statistics(manifest_path: Path, folds_path: Path, backbone: str, mode: str, n_folds: int,
                        seeds: list[int], heldout: list[str]) -> list[dict]:
    """The same folds and head (no refit), but each group's statistics over *all* its clips, every emotion
    (the label map's dropped clips too): no label decides which audio shapes the statistics."""
    from after.backbones.embeddings import extract_embeddings
    from after.config import load_config
    from after.data.folds import read_folds
    from after.data.labels import load_label_map
    from after.data.manifest import read_manifest
    from after.evaluation.metrics import confusion_matrix, unweighted_accuracy
    from after.experiments.train import ExperimentConfig
    from after.training.learners import EmbeddingLearner
    from after.training.normalization import norm_groups
    head = load_config(ExperimentConfig, CONFIG, [f"head.normalize={mode}"]).head
    manifest = read_manifest(manifest_path)
    four = load_label_map("4class")
    classes = four.classes()
    feats = extract_embeddings(str(Path(backbone).resolve()), [u.path for u in manifest], max_seconds=30.0)
    groups = norm_groups(manifest, mode)
    target = np.array([classes.index(four.target(u.emotion)) if four.target(u.emotion) else -1 for u in manifest])
    index = {u.id: i for i, u in enumerate(manifest)}
    out = []
    for fold in read_folds(folds_path)[:n_folds]:
        tr, va, te = (np.array([index[i] for i in fold.ids(s) if target[index[i]] >= 0]) for s in ("train", "val", "test"))
        for seed in seeds:
            learner = EmbeddingLearner(feats, head, len(classes), seed, norm_idx=tr, norm_groups=groups)
            learner.fit(tr, target[tr], va, target[va])
            pred = learner.predict_proba(te).argmax(1)
            cm = np.asarray(confusion_matrix(target[te], pred, len(classes)))
            out.append({"row": "allclips", "normalize": mode, "heldout": heldout[fold.index - 1], "seed": seed,
                        "ua": float(unweighted_accuracy(target[te], pred)), "labels": classes,
                        "recall": [float(v) for v in recalls(cm)]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--heldout", nargs="+", required=True, help="corpus names, one fold each, in this order")
    ap.add_argument("--n-folds", type=int, default=0, help="run the first n held-out corpora (0: all)")
    ap.add_argument("--row", action="append", default=[], metavar="NAME=BACKBONE:MODE[,MODE]")
    ap.add_argument("--all-clip-stats", action="append", metavar="BACKBONE:MODE[,MODE]",
                    help="also: group statistics over every clip of the group, all emotions (no refit)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--refit", action=argparse.BooleanOptionalAction, default=True,
                    help="refit the head on train + val for the early-stopped epoch count (--no-refit halves the time)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folds = args.out / "folds_leave_one_corpus_out.csv"
    if not folds.is_file():
        write_corpus_folds(args.manifest, args.heldout, folds)
    n_folds = args.n_folds or len(args.heldout)
    table = []
    for spec in args.row:
        name, rest = spec.split("=", 1)
        backbone, modes = rest.rsplit(":", 1)
        for mode in modes.split(","):
            run_dir = args.out / f"{name}_{mode}"
            run_row(args.manifest, folds, backbone, mode, n_folds, list(range(args.seeds)), run_dir, args.refit)
            for rec_path in sorted((run_dir / "folds").glob("fold*_seed*.json")):
                rec = json.loads(rec_path.read_text())
                r = recalls(np.asarray(rec["confusion"]))
                table.append({"row": name, "normalize": mode, "heldout": args.heldout[rec["fold"] - 1],
                              "seed": rec["seed"], "ua": rec["ua"], "labels": rec["labels"],
                              "recall": [None if np.isnan(v) else float(v) for v in r]})
    for spec in args.all_clip_stats or []:
        backbone, modes = spec.rsplit(":", 1)
        for mode in modes.split(","):
            table += all_clip_statistics(args.manifest, folds, backbone, mode, n_folds, list(range(args.seeds)),
                                         args.heldout)
    (args.out / "table.json").write_text(json.dumps(table, indent=1))
    print(f"{'row':<14} {'normalize':<9} {'held out':<13} {'UA mean ± std':<15} per seed        recalls (mean)")
    groups = defaultdict(list)
    for t in table:
        groups[(t["row"], t["normalize"], t["heldout"])].append(t)
    for (row, mode, held), ts in groups.items():
        ua = np.array([t["ua"] for t in ts])
        rec = np.nanmean(np.array([[np.nan if v is None else v for v in t["recall"]] for t in ts]), 0)
        names = " ".join(f"{lab} {v:.2f}" for lab, v in zip(ts[0]["labels"], rec) if not np.isnan(v))
        print(f"{row:<14} {mode:<9} {held:<13} {ua.mean():.3f} ± {ua.std():.3f}   "
              f"{' '.join(f'{u:.3f}' for u in ua)}   {names}")


if __name__ == "__main__":
    main()
