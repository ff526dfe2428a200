"""Helpers of the GMP-ATL tests: a tiny labelled corpus (tones, speakers of both genders) and its config."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "backbones"))
from tiny_encoders import make_tiny, tones  # noqa: E402,F401

from after.data.folds import Fold, write_folds  # noqa: E402
from after.data.manifest import Utterance, write_manifest  # noqa: E402


def write_corpus(root: Path, genders: dict[str, str]) -> Path:
    """6 speakers x 4 clips ('low' / 'high' tones); fold 1: test s0, val s1, train the rest."""
    waves, y = tones(24, seed=3)
    utts = []
    for i, (w, label) in enumerate(zip(waves, y)):
        p = root / "audio" / f"u{i}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, w, 16000)
        spk = f"s{i % 6}"
        utts.append(Utterance(id=f"u{i}", path=str(p), corpus="toy", speaker=spk, gender=genders[spk],
                              emotion=["low", "high"][label], original_label=str(label), language="en",
                              duration_s=len(w) / 16000))
    write_manifest(utts, root / "manifest.csv")
    split = {"s0": "test", "s1": "val"}
    ids = {name: tuple(u.id for u in utts if split.get(u.speaker, "train") == name) for name in ("train", "val", "test")}
    write_folds([Fold(1, ids["train"], ids["val"], ids["test"])], root / "folds.csv")
    return root


GENDERS = {"s0": "f", "s1": "m", "s2": "f", "s3": "m", "s4": "unknown", "s5": "f"}


def tiny_config(root: Path, model_dir: str, **over) -> Path:
    cfg = {"data": {"manifest": "manifest.csv", "folds": "folds.csv"}, "fold": 1,
           "model": {"backbone": model_dir, "freeze": "none"},
           "head": {"hidden_dim": 16, "dropout": 0.0},
           "multitask": {"max_epochs": 2, "patience": 1, "batch_seconds": 4, "lr": 1e-3},
           "pseudo_labels": {"layer": 1, "n_clusters": [4, 8], "max_frames": 2000, "batch_size": 256},
           "retrain": {"epochs": 1, "batch_seconds": 4, "mask_span": 3, "mask_prob": 0.2},
           "finetune": {"max_epochs": 2, "patience": 1, "batch_seconds": 4, "lr": 1e-3},
           "emotion_loss": {"loss": "am_softmax", "margin": 0.2, "scale": 10.0}, **over}
    path = root / "gmpatl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def batch(n: int = 4, seed: int = 0):
    waves, y = tones(n, seed=seed)
    return waves, np.asarray(y)
