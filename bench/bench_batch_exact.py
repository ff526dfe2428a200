"""Inference batches that do not change a clip's features: batched against alone, old and new batching.

On ``--n`` RAVDESS clips (every k-th row of the metadata), one thread: mean-pooled features of every layer
(a) with the old batching (length-sorted mixed-length batches of ``--batch-seconds``, reconstructed here),
(b) with ``extract_embeddings`` now (batches of one ``batch_key``), each against (c) every clip alone
(``batch_seconds`` 0.01: one clip per forward). Prints the relative L2 difference per layer, the number of
forwards and the seconds of each.

    nice -n 10 .venv/bin/python bench/bench_batch_exact.py --model ../shared/models/whisper-tiny.en
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"


def pool(n: int) -> tuple[list[str], np.ndarray]:
    rows = list(csv.DictReader(open(RAVDESS / "metadata.csv")))
    rows = rows[:: max(1, len(rows) // n)][:n]
    return [str(RAVDESS / r["file"]) for r in rows], np.array([float(r["duration_s"]) for r in rows])


@torch.inference_mode()
def old_batching(bb, waves, durations, batch_seconds) -> tuple[np.ndarray, int]:
    """The code before batch keys: ``length_batches`` without keys, one padded forward per batch."""
    from after.backbones.base import masked_mean
    from after.backbones.batching import length_batches
    out = np.zeros((len(waves), bb.num_hidden_states, bb.hidden_size), np.float32)
    batches = length_batches(durations, batch_seconds)
    for b in batches:
        res = bb([waves[i] for i in b])
        out[b] = masked_mean(res.hidden_states.float(), res.mask).transpose(0, 1).numpy()
    return out, len(batches)


@torch.inference_mode()
def new_batching(bb, waves, durations, batch_seconds) -> tuple[np.ndarray, int]:
    """What ``extract_embeddings`` does now, on preloaded audio (no I/O), counting forwards."""
    from after.backbones.batching import exact_groups, inference_batches
    from after.backbones.embeddings import pooled_hidden_states
    out = np.zeros((len(waves), bb.num_hidden_states, bb.hidden_size), np.float32)
    forwards = 0
    for b in inference_batches(bb, durations, batch_seconds):
        part = [waves[i] for i in b]
        forwards += len(exact_groups(bb, part))
        out[b] = pooled_hidden_states(bb, part)
    return out, forwards


def planned_forwards(bb, batch_seconds: float) -> tuple[int, int, int]:
    """(clips, old batches, new batches) planned for all of RAVDESS from the metadata durations (no forward)."""
    from after.backbones.batching import inference_batches, length_batches
    d = np.array([float(r["duration_s"]) for r in csv.DictReader(open(RAVDESS / "metadata.csv"))])
    return len(d), len(length_batches(d, batch_seconds)), len(inference_batches(bb, d, batch_seconds))


def rel_diff(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``[n, L+1]`` relative L2 difference per clip and layer."""
    return np.linalg.norm(a - ref, axis=-1) / np.linalg.norm(ref, axis=-1)


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "whisper-tiny.en"))
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--batch-seconds", type=float, default=60.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from after.backbones import load_backbone
    from after.data.audio import load_audio
    bb = load_backbone(args.model).eval()
    paths, _ = pool(args.n)
    waves = [load_audio(p, max_duration_s=30.0) for p in paths]
    durations = np.array([len(w) / 16000 for w in waves])
    print(f"{len(waves)} RAVDESS clips, {durations.min():.2f}-{durations.max():.2f} s, model {args.model}, "
          f"batch_seconds {args.batch_seconds}, 1 thread")
    n_all, b_old, b_new = planned_forwards(bb, args.batch_seconds)
    print(f"all {n_all} RAVDESS clips: {b_old} forwards with the old batching, {b_new} with batch keys")
    (alone, n_alone), t_alone = timed(new_batching, bb, waves, durations, 0.01)
    (old, n_old), t_old = timed(old_batching, bb, waves, durations, args.batch_seconds)
    (new, n_new), t_new = timed(new_batching, bb, waves, durations, args.batch_seconds)
    for name, feats, n_fw, secs in (("old batching", old, n_old, t_old), ("batch keys", new, n_new, t_new),
                                    ("one clip per forward", alone, n_alone, t_alone)):
        r = rel_diff(feats, alone)
        print(f"{name:22s} forwards {n_fw:4d}  {secs:6.1f} s  rel. L2 vs alone: max {r.max():.2e}, "
              f"median per layer {np.array2string(np.median(r, 0), precision=4)}")


if __name__ == "__main__":
    main()
