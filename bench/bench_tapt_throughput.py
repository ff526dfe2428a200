"""TAPT training throughput against a bare forward + backward of the same encoder, on the same batches,
in one run (issue 10 goal: >= 0.8x).

Both sides: audio preloaded, the same length-bucketed batches (batch_seconds of padded audio), the
position table cropped to the batch, AdamW step on the encoder. Bare: log-mel -> encoder -> mean square of
the last hidden state -> backward -> step. TAPT: :meth:`TaptModel.loss` (masking, BEST-RQ targets, the
heads, Eq. 1 + Eq. 2, optionally the distillation teacher) -> backward -> step. Rounds alternate the two.

    nice -n 10 python bench/bench_tapt_throughput.py --model ../shared/models/whisper-tiny.en --clips 48
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"


def clips(n: int):
    from after.data.audio import load_audio
    rows = list(csv.DictReader(open(RAVDESS / "metadata.csv")))
    step = max(1, len(rows) // n)
    return [load_audio(RAVDESS / r["file"]) for r in rows[::step][:n]]


def bare_step(bb, waves, opt) -> None:
    out = bb(waves)
    loss = out.hidden_states[-1].float().pow(2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def tapt_step(model, waves, opt, seed) -> None:
    loss, _ = model.loss(waves, seed)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def timed(fn, batches) -> float:
    t = time.perf_counter()
    for b in batches:
        fn(b)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "whisper-tiny.en"))
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--batch-seconds", type=float, default=40.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from after.backbones import length_batches, load_backbone
    from after.tapt.config import ObjectiveConfig, TaptConfig
    from after.tapt.model import TaptModel

    waves = clips(args.clips)
    batches = [[waves[i] for i in b] for b in length_batches([len(w) / 16000 for w in waves], args.batch_seconds)]
    seconds = sum(len(w) for w in waves) / 16000
    bare_bb = load_backbone(args.model).train()
    bare_opt = torch.optim.AdamW(bare_bb.parameters(), lr=1e-6)
    models = {}
    for name, distill in (("tapt", 0.0), ("tapt+distill", 1.0)):
        torch.manual_seed(0)
        m = TaptModel(load_backbone(args.model), TaptConfig(objective=ObjectiveConfig(distillation=distill))).train()
        models[name] = (m, torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-6))
    timed(lambda b: bare_step(bare_bb, b, bare_opt), batches[:1])          # warm-up
    times = {"bare": 0.0, **{k: 0.0 for k in models}}
    for r in range(args.rounds):
        times["bare"] += timed(lambda b: bare_step(bare_bb, b, bare_opt), batches)
        for name, (m, opt) in models.items():
            times[name] += timed(lambda b: tapt_step(m, b, opt, r), batches)
    print(f"{args.model}: {len(waves)} clips, {seconds:.0f} s of audio, {len(batches)} batches of <= "
          f"{args.batch_seconds:.0f} s, {args.rounds} rounds, torch threads {torch.get_num_threads()}")
    for name, t in times.items():
        rate = args.rounds * seconds / t
        print(f"{name:14s} {rate:7.2f} audio-s/s   ratio to bare {times['bare'] / t:.2f}")


if __name__ == "__main__":
    main()
