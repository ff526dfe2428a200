"""Issue 10: mean ± sd (ddof 1) of test UA per AL round and AULC over seeds, from `after al` run folders
bench/out/al_tapt/<variant>_s<seed>/ (rounds.jsonl, summary.json); paired ΔAULC against the first variant.
Usage: python bench/al_tapt_table.py 0,1,2 base,tapt,tapt_distill"""
import json, sys, numpy as np, glob
seeds = [int(s) for s in sys.argv[1].split(",")]
variants = sys.argv[2].split(",")
for v in variants:
    runs = [[json.loads(l) for l in open(f"bench/out/al_tapt/{v}_s{s}/rounds.jsonl")] for s in seeds]
    ua = np.array([[r["test_ua"] for r in rr] for rr in runs]); fr = [r["fraction"] for r in runs[0]]
    au = np.array([json.load(open(f"bench/out/al_tapt/{v}_s{s}/summary.json"))["aulc"] for s in seeds])
    cells = " | ".join(f"{m:.3f} ± {d:.3f}" for m, d in zip(ua.mean(0), ua.std(0, ddof=1)))
    print(f"| {v} | " + cells + f" | {au.mean():.3f} ± {au.std(ddof=1):.3f} | " + " ".join(f"{a:.3f}" for a in au) + " |")
    print("   shares", " ".join(f"{f:.3f}" for f in fr), "labelled", [r["n_labelled"] for r in runs[0]])
base = {s: json.load(open(f"bench/out/al_tapt/{variants[0]}_s{s}/summary.json"))["aulc"] for s in seeds}
for v in variants[1:]:
    d = np.array([json.load(open(f"bench/out/al_tapt/{v}_s{s}/summary.json"))["aulc"] - base[s] for s in seeds])
    print(f"paired dAULC {v} - {variants[0]}: {d.mean():+.4f} ± {d.std(ddof=1):.4f} (ddof 1), won {int((d>0).sum())}/{len(d)}", np.round(d,3))
