"""Make the walk-through's unlabelled folder from the shared RAVDESS copy (no label is written into it).

    python examples/walkthrough/make_folder.py ../shared/data/ravdess runs/walk

writes ``runs/walk/audio/``: links to 48 RAVDESS clips (12 each of angry, happy, neutral, sad; actors 1-8)
and ``long_recording.wav``, six clips of actor 11 joined with 1-1.5 s pauses of low noise;
``runs/walk/new/``: 8 clips of actors 9-10 to predict later; ``runs/walk/answers.csv``: what the person
would say about the long recording's stretches (the stand-in annotator reads it; ``after`` never does).
"""
from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np
import soundfile as sf

CODES = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry"}   # RAVDESS emotion codes, 4 classes


def clips(ravdess: Path, actors: range, per_class: int, seed: int = 0) -> list[Path]:
    """``per_class`` RAVDESS files of ``actors`` for each of the 4 emotions (first repetitions), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for code in CODES:
        files = sorted(f for a in actors for f in (ravdess / "audio" / f"Actor_{a:02d}").glob(f"03-01-{code}-*-01-*.flac"))
        out += [files[i] for i in sorted(rng.choice(len(files), per_class, replace=False))]
    return out


def link(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = folder / f.name
        if not target.exists():
            os.symlink(f.resolve(), target)


def long_recording(files: list[Path], out: Path, answers: Path, seed: int = 0) -> None:
    """``files`` joined with pauses of low noise; ``answers`` gets each clip's span and emotion."""
    rng = np.random.default_rng(seed)
    parts, rows, t = [], [], 0.0
    for f in files:
        pause = rng.uniform(1.0, 1.5)
        parts.append(0.001 * rng.standard_normal(int(pause * 16000)).astype(np.float32))
        t += pause
        wave, sr = sf.read(f, dtype="float32")
        parts.append(wave)
        rows.append([str(out.resolve()), f"{t:.3f}", f"{t + len(wave) / sr:.3f}", CODES[f.stem.split("-")[2]]])
        t += len(wave) / sr
    parts.append(np.zeros(16000, dtype=np.float32))
    sf.write(out, np.concatenate(parts), 16000)
    with open(answers, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "start_s", "end_s", "emotion"])
        w.writerows(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ravdess", type=Path, help="the shared RAVDESS folder (with audio/Actor_XX/)")
    p.add_argument("out", type=Path)
    args = p.parse_args()
    link(clips(args.ravdess, range(1, 9), 12), args.out / "audio")
    link(clips(args.ravdess, range(9, 11), 2), args.out / "new")
    joined = clips(args.ravdess, range(11, 13), 2)[1::2] + clips(args.ravdess, range(11, 13), 2)[:4:2]   # 6 clips
    long_recording(joined, args.out / "audio" / "long_recording.wav", args.out / "answers.csv")
    n = len(list((args.out / "audio").iterdir()))
    print(f"{args.out / 'audio'}: {n - 1} clips and long_recording.wav ({len(joined)} clips joined with pauses); "
          f"{args.out / 'new'}: {len(list((args.out / 'new').iterdir()))} clips to predict")


if __name__ == "__main__":
    main()
