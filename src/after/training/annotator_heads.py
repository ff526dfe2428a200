"""One classification head per annotator on shared frozen embeddings (ACTOR-style, Wang & Plank 2023).

The annotator-aware acquisitions of AFTER's extension (individual entropy, group entropy, vote variance,
mix) score ``[n, annotators, classes]`` predictions: this learner makes them. Annotators are *vote slots*:
slot a is the a-th vote the oracle returns for a clip (a fixed evaluator order in simulated pools; for
IEMOCAP, votes keyed by evaluator id, ``"C-E2:sad"``, go to that evaluator's head: see
:func:`after.al.loop.vote_matrix`). A head trains only on the clips its annotator voted on. The consensus
prediction is the mean of the trained heads, i.e. the expected vote share.

With individual entropy (Eq. 13) the loop asks one annotator per acquisition, so a clip holds only the
votes that were asked for, and each head learns exactly those (its row of the vote matrix is -1 elsewhere;
no head is ever given another annotator's vote or the clip's consensus). A head with no vote yet is not
trained on anything: it stays out of :meth:`AnnotatorHeadsLearner.predict_annotators`, the consensus and
the pair scores, so its annotator is not asked until the cold start, which asks every annotator about
each of its clips, has given it votes. An annotator who voted on no cold-start clip is never asked.

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
    """``n_annotators`` :class:`EmbeddingLearner` heads over one shared copy of the ``[N, L, D]`` features.

    A head that has never received a vote knows nothing of its annotator: it is left out of
    :meth:`predict_annotators` (and of the consensus) until its first vote arrives, so an untrained head at
    its random initialisation never drives selection.
    """

    learns_from_votes = True

    def __init__(self, features: np.ndarray, cfg: HeadConfig, n_classes: int, n_annotators: int, seed: int = 0,
                 device: str = "cpu", norm_idx: np.ndarray | None = None):
        if n_annotators < 1:
            raise ValueError(f"n_annotators must be >= 1, got {n_annotators}")
        self.n_classes = int(n_classes)
        first = EmbeddingLearner(features, cfg, n_classes, seed=seed * 1_009, device=device, norm_idx=norm_idx)
        self.heads = [first] + [EmbeddingLearner.sharing_features(first, cfg, n_classes, seed * 1_009 + a)
                                for a in range(1, n_annotators)]
        self.trained = np.zeros(n_annotators, dtype=bool)

    def fit_votes(self, train_idx, votes: np.ndarray, val_idx, y_val) -> dict:
        """``votes``: int ``[n, n_annotators]``, -1 where a clip has no vote from that annotator."""
        t0 = time.perf_counter()
        votes = np.asarray(votes)
        train_idx = np.asarray(train_idx)
        if votes.shape != (len(train_idx), len(self.heads)):
            raise ValueError(f"votes must be [{len(train_idx)}, {len(self.heads)}], got {votes.shape}")
        if not (votes >= 0).any():
            raise ValueError("no annotator gave a vote on the labelled clips: nothing to train on")
        fits = []
        for a, head in enumerate(self.heads):
            has = votes[:, a] >= 0
            if has.any():
                rows, target = train_idx[has], votes[has, a]
                fits.append(head.fit(rows, target, rows, target))
                self.trained[a] = True
        return {"epochs": max(f["epochs"] for f in fits),
                "best_val_loss": float(np.mean([f["best_val_loss"] for f in fits])),
                "heads_trained": int(self.trained.sum()),
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
        self.trained[:] = False

    def _active(self) -> list:
        if not self.trained.any():
            raise ValueError("no annotator head is trained yet: fit_votes first")
        return [h for h, t in zip(self.heads, self.trained) if t]

    def predict_annotators(self, idx) -> np.ndarray:
        """``[n, trained annotators, c]``: only heads that have received votes."""
        return np.stack([h.predict_proba(idx) for h in self._active()], axis=1)

    def predict_proba(self, idx) -> np.ndarray:
        return self.predict_annotators(idx).mean(axis=1)

    def predict_mc(self, idx, n_samples: int, seed: int) -> np.ndarray:
        return np.mean([h.predict_mc(idx, n_samples, seed + a) for a, h in enumerate(self._active())], axis=0)

    def embed(self, idx) -> np.ndarray:
        return np.concatenate([h.embed(idx) for h in self._active()], axis=1)

    def grad_embed(self, idx) -> np.ndarray:
        return np.concatenate([h.grad_embed(idx) for h in self._active()], axis=1)

    def save_state(self, path) -> None:
        for a, head in enumerate(self.heads):
            head.save_state(Path(path) / f"annotator_{a}")
        np.save(Path(path) / "trained.npy", self.trained)

    def load_state(self, path) -> None:
        for a, head in enumerate(self.heads):
            head.load_state(Path(path) / f"annotator_{a}")
        marks = Path(path) / "trained.npy"
        self.trained = np.load(marks) if marks.is_file() else np.ones(len(self.heads), dtype=bool)
