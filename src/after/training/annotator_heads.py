"""One classification head per annotator on shared frozen embeddings (ACTOR-style, Wang & Plank 2023).

The annotator-aware acquisitions of AFTER's extension (individual entropy, group entropy, vote variance,
mix) score ``[n, annotators, classes]`` predictions: this learner makes them. Annotators are *vote slots*:
slot a is the a-th vote the oracle returns for a clip (a fixed evaluator order in simulated pools; for
IEMOCAP, the order in which EmoEvaluation lists the evaluators). A clip with fewer votes trains only the
first heads. The consensus prediction is the mean of the heads, i.e. the expected vote share.

Early stopping: validation clips carry one (consensus) label, not each annotator's vote, and a head that
models an idiosyncratic annotator *should* disagree with the consensus. So each head stops on the loss of
its own annotator's training votes; the validation set is still used for the round's reported metrics.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from after.training.config import HeadConfig
from after.training.learners import EmbeddingLearner


class AnnotatorHeadsLearner:
    """``n_annotators`` :class:`EmbeddingLearner` heads over the same ``[N, L, D]`` features."""

    learns_from_votes = True

    def __init__(self, features: np.ndarray, cfg: HeadConfig, n_classes: int, n_annotators: int, seed: int = 0,
                 device: str = "cpu"):
        if n_annotators < 1:
            raise ValueError(f"n_annotators must be >= 1, got {n_annotators}")
        self.n_classes = int(n_classes)
        self.heads = [EmbeddingLearner(features, cfg, n_classes, seed=seed * 1_009 + a, device=device)
                      for a in range(n_annotators)]

    def fit_votes(self, train_idx, votes: np.ndarray, val_idx, y_val) -> dict:
        """``votes``: int ``[n, n_annotators]``, -1 where a clip has no vote in that slot."""
        t0 = time.perf_counter()
        votes = np.asarray(votes)
        train_idx = np.asarray(train_idx)
        if votes.shape != (len(train_idx), len(self.heads)):
            raise ValueError(f"votes must be [{len(train_idx)}, {len(self.heads)}], got {votes.shape}")
        fits = []
        for a, head in enumerate(self.heads):
            has = votes[:, a] >= 0
            if has.any():
                rows, target = train_idx[has], votes[has, a]
                fits.append(head.fit(rows, target, rows, target))
        return {"epochs": max(f["epochs"] for f in fits),
                "best_val_loss": float(np.mean([f["best_val_loss"] for f in fits])),
                "seconds": time.perf_counter() - t0}

    def fit(self, train_idx, y_train, val_idx, y_val) -> dict:
        """Hard labels only: every head learns the same label (no annotator information)."""
        y = np.asarray(y_train)
        if y.ndim != 1:
            raise ValueError("AnnotatorHeadsLearner.fit takes hard labels; give votes to fit_votes")
        return self.fit_votes(train_idx, np.repeat(y[:, None], len(self.heads), axis=1), val_idx, y_val)

    def reset(self) -> None:
        for head in self.heads:
            head.reset()

    def predict_annotators(self, idx) -> np.ndarray:
        """``[n, annotators, c]``."""
        return np.stack([h.predict_proba(idx) for h in self.heads], axis=1)

    def predict_proba(self, idx) -> np.ndarray:
        return self.predict_annotators(idx).mean(axis=1)

    def predict_mc(self, idx, n_samples: int, seed: int) -> np.ndarray:
        return np.mean([h.predict_mc(idx, n_samples, seed + a) for a, h in enumerate(self.heads)], axis=0)

    def embed(self, idx) -> np.ndarray:
        return np.concatenate([h.embed(idx) for h in self.heads], axis=1)

    def grad_embed(self, idx) -> np.ndarray:
        return np.concatenate([h.grad_embed(idx) for h in self.heads], axis=1)

    def save_state(self, path) -> None:
        for a, head in enumerate(self.heads):
            head.save_state(Path(path) / f"annotator_{a}")

    def load_state(self, path) -> None:
        for a, head in enumerate(self.heads):
            head.load_state(Path(path) / f"annotator_{a}")
