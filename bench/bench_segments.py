"""Segments of long recordings: reading a span against decoding the whole file, and Silero VAD's time and
peak memory for a short against a 3x longer recording, measured side by side in one run.

The recordings are RAVDESS clips joined with 1-2 s of low noise (about -60 dBFS), repeated to length,
written as 16 kHz FLAC to a temporary folder (deleted at the end; nothing lands in the repository).

Run: OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/bench_segments.py --minutes 5
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile as sf

from after.data.audio import load_audio
from after.data.segments import segment_recording

SR = 16_000
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess" / "audio"


def make_recording(path: Path, minutes: float, seed: int = 0) -> int:
    """Write ``minutes`` of joined clips to ``path``; returns how many clips it holds."""
    clips = sorted(SHARED.glob("Actor_*/*.flac"))
    rng = np.random.default_rng(seed)
    total, n = int(minutes * 60 * SR), 0
    with sf.SoundFile(str(path), "w", SR, 1, format="FLAC") as out:
        written = 0
        while written < total:
            x = load_audio(clips[rng.integers(len(clips))])
            gap = (1e-3 * rng.standard_normal(int(rng.uniform(1.0, 2.0) * SR))).astype(np.float32)
            block = np.concatenate([x, gap])[: total - written]
            out.write(block)
            written += block.shape[0]
            n += 1
    return n


def span_vs_full(path: Path, n_spans: int = 50) -> None:
    t0 = time.perf_counter()
    full = load_audio(path)
    t_full = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    starts = rng.uniform(0, full.shape[0] / SR - 3.0, n_spans)
    t0 = time.perf_counter()
    for s in starts:
        load_audio(path, start_s=float(s), end_s=float(s) + 3.0)
    t_span = (time.perf_counter() - t0) / n_spans
    print(f"{path.name}: full decode {t_full:.2f} s; one 3 s span {1000 * t_span:.1f} ms "
          f"(full / span = {t_full / t_span:.0f}x)")


def vad_run(path: Path) -> tuple[float, float, int]:
    tracemalloc.start()
    t0 = time.perf_counter()
    segs = segment_recording(path, "vad")
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return elapsed, peak, len(segs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the short recording (the long one is 3x)")
    args = ap.parse_args()
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} not found", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        short, long_ = Path(tmp) / "short.flac", Path(tmp) / "long.flac"
        n_short = make_recording(short, args.minutes)
        n_long = make_recording(long_, 3 * args.minutes)
        span_vs_full(long_)
        vad_run(short)  # load the model once before timing
        for path, n in ((short, n_short), (long_, n_long)):
            elapsed, peak, n_segs = vad_run(path)
            minutes = sf.info(str(path)).duration / 60
            print(f"{path.name}: {minutes:.1f} min, {n} clips -> {n_segs} VAD segments in {elapsed:.1f} s "
                  f"({60 * minutes / elapsed:.1f}x real time), Python-heap peak {peak:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
