"""Pool-prediction throughput of `extract_embeddings` against (a) a bare batched forward of the same
encoder on the same clips and batches, and (b) the reference way (batch 1, padded to Whisper's 30 s);
plus peak RSS of the extraction for two pool sizes (each in a fresh subprocess).

    nice -n 10 .venv/bin/python bench/bench_throughput.py --model ../shared/models/whisper-tiny.en
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"


def pool(n: int) -> list[str]:
    rows = list(csv.DictReader(open(RAVDESS / "metadata.csv")))
    step = max(1, len(rows) // n)
    return [str(RAVDESS / r["file"]) for r in rows[::step][:n]]


def ours(bb, paths, batch_seconds) -> float:
    from after.backbones import extract_embeddings
    t = time.perf_counter()
    extract_embeddings(bb, paths, use_cache=False, batch_seconds=batch_seconds)
    return len(paths) / (time.perf_counter() - t)


@torch.inference_mode()
def bare(bb, paths, batch_seconds) -> float:
    """Audio preloaded, same length-sorted batches, log-mel + cropped encoder only: no masks, pooling, I/O."""
    from after.backbones import length_batches
    from after.data.audio import load_audio
    waves = [load_audio(p) for p in paths]
    batches = length_batches([len(w) / 16000 for w in waves], batch_seconds)
    t = time.perf_counter()
    for b in batches:
        clips = [torch.from_numpy(waves[i]) for i in b]
        feats = bb.log_mel(clips)
        bb._crop_positions(feats.shape[-1] // 2)
        bb.encoder(feats, output_hidden_states=True)
    return len(paths) / (time.perf_counter() - t)


@torch.inference_mode()
def reference(model_dir, paths) -> float:
    """As the usual recipes do it: WhisperFeatureExtractor pads to 30 s, one clip per forward."""
    from transformers import AutoFeatureExtractor, WhisperModel
    from after.data.audio import load_audio
    fe = AutoFeatureExtractor.from_pretrained(model_dir)
    enc = WhisperModel.from_pretrained(model_dir).encoder.eval()
    t = time.perf_counter()
    for p in paths:
        w = load_audio(p)
        feats = fe(w, sampling_rate=16000, return_tensors="pt").input_features     # [1, 80, 3000]
        hs = enc(feats, output_hidden_states=True).hidden_states
        n = -(-len(w) // 320)
        torch.stack([h[0, :n].mean(0) for h in hs])
    return len(paths) / (time.perf_counter() - t)


def rss_child(model_dir: str, n: int, batch_seconds: float) -> None:
    from after.backbones import extract_embeddings, load_backbone
    bb = load_backbone(model_dir)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extract_embeddings(bb, pool(n), use_cache=False, batch_seconds=batch_seconds)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": n, "rss_after_load_mib": before / 1024, "peak_rss_mib": peak / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "whisper-tiny.en"))
    ap.add_argument("--n", type=int, default=64, help="clips for the batched comparisons")
    ap.add_argument("--n-reference", type=int, default=16, help="clips for the slow 30 s reference")
    ap.add_argument("--rss-sizes", default="48,384")
    ap.add_argument("--batch-seconds", type=float, default=60.0)
    ap.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.model, args.rss_child, args.batch_seconds)
        return
    from after.backbones import load_backbone
    bb = load_backbone(args.model)
    paths = pool(args.n)
    ours(bb, paths[:8], args.batch_seconds)                # warm-up (allocator, first-call costs)
    r_ours, r_bare = [], []
    for _ in range(2):                                     # interleaved: fair under a shared, noisy CPU
        r_ours.append(ours(bb, paths, args.batch_seconds))
        r_bare.append(bare(bb, paths, args.batch_seconds))
    r_ref = reference(args.model, paths[: args.n_reference])
    o, b = max(r_ours), max(r_bare)
    print(f"model {args.model}, torch threads {torch.get_num_threads()}")
    print(f"{'extract_embeddings (ours)':34s} {o:8.1f} clips/s   (n={len(paths)}, runs {np.round(r_ours, 1)})")
    print(f"{'bare batched forward':34s} {b:8.1f} clips/s   (runs {np.round(r_bare, 1)})")
    print(f"{'reference: batch 1, padded to 30 s':34s} {r_ref:8.1f} clips/s   (n={args.n_reference})")
    print(f"ratio ours / bare      = {o / b:.2f}   (goal >= 0.9)")
    print(f"ratio ours / reference = {o / r_ref:.1f}x  (goal >= 5x)")
    for n in (int(s) for s in args.rss_sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--rss-child", str(n),
                              "--batch-seconds", str(args.batch_seconds)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"pool {r['n']:5d} clips: peak RSS {r['peak_rss_mib']:.0f} MiB (after model load {r['rss_after_load_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
