"""`after predict`: throughput against a bare batched encoder forward, and peak memory for 1 h vs 10 h of audio.

Throughput (one process, same clips, alternating A/B/A/B, best of each): ``after predict`` (the CLI in
process: headers, decoding, length-bucketed batches, encoder, pooling, head, CSV) against a bare loop that
decodes the same clips and runs the same encoder on length-sorted batches of the same padded seconds.

Memory: ``after predict`` in a fresh process on a manifest listing shared clips over and over until it
holds 1 h, then 10 h of audio (no audio is written; the manifest goes to bench/out/). Peak RSS of each
child from wait4. The encoder for the memory runs is a flag: the default (logmel) keeps 10 h within
minutes on 2 CPU cores; the pipeline (what could grow with the input) is the same for every encoder.

    python bench/bench_predict.py --encoder ../shared/models/whisper-tiny.en --clips 96 --hours 1 10
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# as `after predict` sets it (src/after/commands/predict.py), for both sides of the comparison
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8")

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "predict"
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "src"))


def shared_clips(n: int) -> list[tuple[str, float, str]]:
    """(path, duration, emotion) of ``n`` RAVDESS clips spread over speakers and emotions."""
    with open(SHARED / "data" / "ravdess" / "metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    step = max(1, len(rows) // n)
    return [(str(SHARED / "data" / "ravdess" / r["file"]), float(r["duration_s"]), r["emotion"])
            for r in rows[::step][:n]]


def make_bundle(encoder: str, folder: Path, n_train: int = 24) -> Path:
    """A frozen bundle: a head on ``encoder`` features of a few RAVDESS clips (what is timed is inference)."""
    from after.backbones.embeddings import extract_embeddings
    from after.training.bundle import save_bundle
    from after.training.config import HeadConfig
    from after.training.learners import EmbeddingLearner
    if (folder / "bundle.json").is_file():
        return folder
    clips = shared_clips(n_train)
    classes = sorted({c[2] for c in clips})
    y = np.array([classes.index(c[2]) for c in clips])
    feats = extract_embeddings(encoder, [c[0] for c in clips], use_cache=False)
    head = HeadConfig(max_epochs=30, patience=30)
    learner = EmbeddingLearner(feats, head, len(classes))
    learner.fit(np.arange(len(y)), y, np.arange(len(y)), y)
    save_bundle(folder, learner, classes, backbone=encoder, head_cfg=head)
    return folder


def write_manifest(clips, path: Path, hours: float | None = None) -> float:
    """A manifest of ``clips`` (repeated until ``hours`` of audio when given); returns its seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    total, k = 0.0, 0
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "path", "emotion"])
        while True:
            for p, d, emo in clips:
                if hours is not None and total >= hours * 3600:
                    return total
                w.writerow([f"r{k}", p, emo])
                total, k = total + d, k + 1
            if hours is None:
                return total


def bare_forward(encoder: str, clips, batch_seconds: float) -> float:
    """Seconds for: decode every clip, run the encoder on length-sorted batches, mean-pool every layer."""
    import torch
    from after.backbones.base import masked_mean
    from after.backbones.batching import length_batches
    from after.backbones.registry import load_backbone
    from after.data.audio import load_audio
    bb = load_backbone(encoder).eval()
    t = time.perf_counter()
    with torch.inference_mode():
        for batch in length_batches([c[1] for c in clips], batch_seconds):
            out = bb([load_audio(clips[i][0], max_duration_s=30.0) for i in batch])
            masked_mean(out.hidden_states.float(), out.mask)
    return time.perf_counter() - t


def after_predict(bundle: Path, manifest: Path, out_csv: Path) -> float:
    from after.cli import main
    t = time.perf_counter()
    if main(["predict", str(bundle), str(manifest), "-o", str(out_csv)]) != 0:
        raise SystemExit("after predict failed")
    return time.perf_counter() - t


def peak_rss_mib(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS MiB, wall seconds) of a child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default=str(SHARED / "models" / "whisper-tiny.en"))
    ap.add_argument("--clips", type=int, default=96, help="clips in the throughput comparison (0: skip it)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-seconds", type=float, default=60.0)
    ap.add_argument("--hours", type=float, nargs="*", default=[1.0, 10.0])
    ap.add_argument("--memory-encoder", default="logmel", help="encoder of the memory runs (logmel or a folder)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    import torch
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}")

    if args.clips:
        throughput(args)
    if args.hours:
        memory(args)


def throughput(args) -> None:
    bundle = make_bundle(args.encoder, OUT / f"bundle_{Path(args.encoder).name}")
    clips = shared_clips(args.clips)
    audio_s = write_manifest(clips, OUT / "throughput.csv")
    ours, bare = [], []
    for _ in range(args.repeats):
        ours.append(after_predict(bundle, OUT / "throughput.csv", OUT / "throughput_pred.csv"))
        bare.append(bare_forward(args.encoder, clips, args.batch_seconds))
    print(f"throughput, {len(clips)} clips, {audio_s / 60:.1f} min of audio, encoder {args.encoder}:")
    print(f"  after predict   best {min(ours):.1f} s  ({audio_s / min(ours):.1f}x real time)  all {ours}")
    print(f"  bare forward    best {min(bare):.1f} s  ({audio_s / min(bare):.1f}x real time)  all {bare}")
    print(f"  ratio (after predict throughput / bare): {min(bare) / min(ours):.2f}")


def memory(args) -> None:
    bundle = make_bundle(args.memory_encoder, OUT / f"bundle_{Path(args.memory_encoder).name}")
    pool = shared_clips(480)
    for h in args.hours:
        manifest = OUT / f"memory_{h:g}h.csv"
        total = write_manifest(pool, manifest, hours=h)
        rss, wall = peak_rss_mib([sys.executable, "-m", "after.cli", "predict", str(bundle), str(manifest),
                                  "-o", str(OUT / f"memory_{h:g}h_pred.csv")])
        print(f"memory, {total / 3600:.2f} h ({sum(1 for _ in open(manifest)) - 1} clips), encoder "
              f"{args.memory_encoder}: peak RSS {rss:.0f} MiB, {wall:.0f} s")

if __name__ == "__main__":
    main()
