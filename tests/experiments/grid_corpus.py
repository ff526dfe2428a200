"""A tiny synthetic tone corpus (3 emotions, 6 speakers) and grid configs over it, for `after run` tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from after.data.folds import write_folds
from after.data.splits import split_by_group
from after.data.manifest import Utterance, read_manifest, write_manifest

CLASSES = ("angry", "happy", "sad")


def write_corpus(root: Path, n_speakers: int = 6, per_class: int = 4) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    utts, sr = [], 16_000
    for s in range(n_speakers):
        for c, emo in enumerate(CLASSES):
            for k in range(per_class):
                t = np.arange(int((0.4 + 0.2 * rng.random()) * sr)) / sr
                wav = 0.3 * np.sin(2 * np.pi * 150 * (1 + c) * (1 + 0.05 * s) * t) + 0.05 * rng.normal(size=t.size)
                path = root / "audio" / f"s{s}_{emo}_{k}.flac"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, wav.astype(np.float32), sr)
                utts.append(Utterance(id=f"s{s}_{emo}_{k}", path=str(path), corpus="syn", speaker=f"syn_{s}",
                                      gender="f", emotion=emo, original_label=emo, language="en",
                                      duration_s=len(t) / sr))
    manifest = write_manifest(utts, root / "manifest.csv")
    folds = write_folds(split_by_group(read_manifest(manifest), "speaker", 3, 0.2, seed=0), root / "folds.csv")
    return manifest, folds


def write_grid(tmp: Path, **grid) -> Path:
    """An `after al` config on the tone corpus (logmel features) and a grid config naming it."""
    manifest, folds = write_corpus(tmp / "corpus")
    al = {"init_fraction": 0.1, "rounds": 2, "data": {"manifest": str(manifest), "folds": str(folds)},
          "learner": {"kind": "embedding", "backbone": "logmel", "cache_dir": str(tmp / "cache"),
                      "head": {"max_epochs": 30, "patience": 5, "hidden_dim": 16}}}
    (tmp / "al.yaml").write_text(yaml.safe_dump(al))
    cfg = {"al_config": "al.yaml", "methods": ["FT+Random", "FT+Entropy"], "label_ratios": [0.3, 0.6],
           "folds": [1, 2], "seeds": [0], **grid}
    path = tmp / "grid.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
