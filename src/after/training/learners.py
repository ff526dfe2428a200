"""The Learner API the active-learning loop drives, and its two implementations.

All indices are row positions into the pool the learner was built on. ``fit`` warm-starts from the
current weights; ``reset`` returns to the initial ones (pretrained encoder, fresh head from the learner's
seed). Labels are int ``[n]`` or soft float ``[n, c]`` (soft cross-entropy).

- :class:`EmbeddingLearner`: the frozen fast path on precomputed ``[N, L, D]`` embeddings.
- :class:`~after.training.finetune.FineTuneLearner`: end-to-end fine-tuning on waveforms.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import time
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import nn

from after.atomic import atomic_open
from after.errors import StateFileError
from after.training.config import HeadConfig
from after.training.heads import DropoutMasks, LayerMix, MLPHead, badge_gradients
from after.training.losses import as_soft_labels, check_finite, inverse_frequency_weights, soft_cross_entropy
from after.training.normalization import standardise

log = logging.getLogger(__name__)


@runtime_checkable
class Learner(Protocol):
    """What the active-learning loop needs from a model; indices are rows of the learner's pool."""

    n_classes: int

    def fit(self, train_idx: np.ndarray, y_train: np.ndarray, val_idx: np.ndarray, y_val: np.ndarray) -> dict:
        """Train (warm start), early-stop on validation loss; ``{"epochs", "best_val_loss", "seconds"}``."""

    def reset(self) -> None:
        """Back to the initial weights."""

    def predict_proba(self, idx: np.ndarray) -> np.ndarray:
        """``[n, c]`` class probabilities (eval mode)."""

    def predict_mc(self, idx: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
        """``[n, c, T]`` probabilities with dropout on (MC dropout)."""

    def embed(self, idx: np.ndarray) -> np.ndarray:
        """``[n, d]`` penultimate-layer embeddings."""

    def grad_embed(self, idx: np.ndarray) -> np.ndarray:
        """``[n, d*c]`` BADGE gradient embeddings."""


class EmbeddingHead(nn.Module):
    """Standardised ``[B, L, D]`` -> learned layer mix -> MLP head."""

    def __init__(self, n_layers: int, dim: int, n_classes: int, cfg: HeadConfig):
        super().__init__()
        self.mix = LayerMix(n_layers, cfg.layers)
        self.head = MLPHead(dim, n_classes, cfg.hidden_dim, cfg.dropout)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.penultimate(self.mix(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mix(x))


@contextlib.contextmanager
def seeded(seed: int):
    """A private RNG scope: seeds torch (CPU and CUDA) inside, leaves the caller's global RNG untouched."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def few_threads(device: torch.device, n: int = 1):
    """Run tiny CPU ops on one thread: for a head this small, intra-op threading only adds overhead,
    and on a shared machine it is many times slower (measured 8x with 2 threads under load)."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(min(n, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def save_learner_state(path, state: dict, n_fits: int, extra: dict | None = None) -> None:
    """Write a learner's weights and fit counter atomically to ``path/state.pt`` (for resuming AL runs).

    The fit counter seeds the next fit, so a resumed run trains exactly as the uninterrupted one would.
    ``extra``: further tensors saved beside the weights (the feature standardisation statistics).
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    blob = {"state": {k: v.detach().cpu() for k, v in state.items()}, "n_fits": int(n_fits)}
    if extra:
        blob["extra"] = {k: torch.as_tensor(v).detach().cpu() for k, v in extra.items()}
    with atomic_open(folder / "state.pt", "wb") as fh:
        torch.save(blob, fh)


def load_learner_extra(path) -> dict:
    """The ``extra`` tensors saved with a learner's state (empty for states saved without)."""
    saved = torch.load(Path(path) / "state.pt", map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in saved.get("extra", {}).items()}


def load_learner_state(path) -> tuple[dict, int]:
    file = Path(path) / "state.pt"
    if not file.is_file():
        raise FileNotFoundError(f"{file}: learner state not found; the run directory is incomplete "
                                "(start a new run directory, or delete rounds.jsonl lines after the last saved round)")
    try:
        saved = torch.load(file, map_location="cpu", weights_only=True)
        return saved["state"], int(saved["n_fits"])
    except Exception as exc:   # torch raises RuntimeError, pickle errors, EOFError... for a damaged file
        raise StateFileError(
            f"{file}: the learner state does not load ({exc.__class__.__name__}: {(str(exc).splitlines() or [''])[0][:120]}). "
            "Remove the last line of rounds.jsonl and run the same command again to redo that round "
            "(the previous round's state is kept), or start a new run directory") from None


def _masked_hidden(x_t: torch.Tensor, full: torch.Tensor, w_t: torch.Tensor, bias: torch.Tensor, keep: torch.Tensor,
                   scale: float) -> torch.Tensor:
    """``relu(x (W * keep)^T * scale + b)`` for ``x_t = x^T [D, n]``, ``w_t = W^T [D, H]``, from ``full = x W^T *
    scale + b``: minus the dropped columns' product, or the kept columns' product alone when they are fewer
    (rows of ``x_t`` and ``w_t`` are gathered, contiguous)."""
    drop = torch.nonzero(~keep).squeeze(1)
    if len(drop) == 0:
        return torch.relu(full)
    if 2 * len(drop) <= len(keep):
        return torch.addmm(full, x_t[drop].t(), w_t[drop], alpha=-scale).relu_()
    kept = torch.nonzero(keep).squeeze(1)
    return torch.addmm(bias, x_t[kept].t(), w_t[kept], alpha=scale).relu_()


class EmbeddingLearner:
    """Frozen fast path: only the head trains, on precomputed embeddings ``[N, L, D]`` (or ``[N, D]``).

    Features are standardised per layer and dimension with statistics of ``norm_idx`` rows (default: all
    rows; unsupervised, no labels used). Pass the rows the learner may see (the unlabelled pool, or the
    training rows): with the default, validation and test clips shape the statistics. The statistics
    (``norm_mean``, ``norm_std``) are saved with the learner's state and checked when it is loaded.
    With ``cfg.normalize`` corpus or speaker, ``norm_groups`` names each row's corpus or speaker and every
    row is standardised with its own group's statistics over all the group's rows, test rows included:
    their audio only, never a label (unsupervised adaptation, :mod:`after.training.normalization`);
    ``norm_mean`` / ``norm_std`` stay the global ones of ``norm_idx`` (the fallback model bundles keep).
    Training is full-batch Adam up to ``cfg.batch_size`` rows. A training step mixes the layers of its rows
    straight from the pool's features (:meth:`LayerMix.rows`, no gathered copy) and draws its dropout
    masks from a private stream per fit (:class:`~after.training.heads.DropoutMasks`, seeded like the fit's
    shuffling): the same algorithm and dropout distribution as ``nn.Dropout``, another random stream.
    """

    def __init__(self, features: np.ndarray, cfg: HeadConfig, n_classes: int, seed: int = 0,
                 norm_idx: np.ndarray | None = None, device: str | torch.device = "cpu",
                 norm_groups: Sequence[str] | None = None):
        x = np.asarray(features, dtype=np.float32)
        if x.ndim == 2:
            x = x[:, None, :]
        if x.ndim != 3:
            raise ValueError(f"features must be [N, D] or [N, L, D], got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("features contain NaN or infinite values")
        # norm_mean / norm_std [L, D]: saved with the learner's state and in model bundles
        x, self.norm_mean, self.norm_std = standardise(x, cfg.normalize, norm_idx, norm_groups)
        self.device = torch.device(device)
        self.x = torch.from_numpy(x).to(self.device)
        self._build_head(cfg, n_classes, seed)

    @classmethod
    def sharing_features(cls, other: "EmbeddingLearner", cfg: HeadConfig, n_classes: int, seed: int
                         ) -> "EmbeddingLearner":
        """A new head on ``other``'s standardised features (one copy of the pool's features, not one per head)."""
        new = cls.__new__(cls)
        new.norm_mean, new.norm_std, new.device, new.x = other.norm_mean, other.norm_std, other.device, other.x
        new._build_head(cfg, n_classes, seed)
        return new

    def _build_head(self, cfg: HeadConfig, n_classes: int, seed: int) -> None:
        self.cfg = cfg
        self.n_classes = int(n_classes)
        self.seed = int(seed)
        self._n_fits = 0
        with seeded(self.seed):
            self.model = EmbeddingHead(self.x.shape[1], self.x.shape[2], self.n_classes, cfg).to(self.device)
        self._initial = copy.deepcopy(self.model.state_dict())

    def reset(self) -> None:
        self.model.load_state_dict(self._initial)
        self._n_fits = 0

    def save_state(self, path) -> None:
        save_learner_state(path, self.model.state_dict(), self._n_fits,
                           extra={"norm_mean": self.norm_mean, "norm_std": self.norm_std})

    def load_state(self, path) -> None:
        state, self._n_fits = load_learner_state(path)
        saved = load_learner_extra(path)
        if "norm_mean" in saved and not (np.allclose(saved["norm_mean"], self.norm_mean, rtol=1e-5, atol=1e-6)
                                         and np.allclose(saved["norm_std"], self.norm_std, rtol=1e-5, atol=1e-6)):
            raise ValueError(f"{path}: the learner was saved with other feature statistics than this one "
                             "computes (the pool or its features changed); start a new run directory")
        self.model.load_state_dict(state)
        self.model.eval()

    def _train_logits(self, rows: torch.Tensor, masks: DropoutMasks) -> torch.Tensor:
        """Training-mode logits of pool rows ``rows``: the layer mix straight from the pool's features (no
        gathered copy), then the head with dropout masks from ``masks``. With ``input_noise`` the rows are
        gathered, since the noise is drawn per layer before the mix."""
        if self.cfg.input_noise > 0:
            x = self.x[rows]
            mixed = self.model.mix(x + self.cfg.input_noise * torch.randn_like(x))
        else:
            mixed = self.model.mix.rows(self.x, rows)
        head = self.model.head
        return head.forward_masked(mixed, masks(len(rows), mixed.shape[1], mixed.dtype),
                                   masks(len(rows), head.hidden_features, mixed.dtype))

    @torch.no_grad()
    def _val_loss(self, rows: torch.Tensor, y: torch.Tensor) -> float:
        """Eval-mode loss over ``rows`` (unweighted: class weights describe the training labels only)."""
        return float(soft_cross_entropy(self.model.head(self.model.mix.rows(self.x, rows)), y, None))

    def fit(self, train_idx, y_train, val_idx, y_val) -> dict:
        t0 = time.perf_counter()
        tr = torch.as_tensor(np.asarray(train_idx, dtype=np.int64), device=self.device)
        va = torch.as_tensor(np.asarray(val_idx, dtype=np.int64), device=self.device)
        if len(tr) == 0:
            raise ValueError("fit needs at least one training example")
        ytr_np = as_soft_labels(y_train, self.n_classes)
        ytr = torch.from_numpy(ytr_np).to(self.device)
        yva = torch.from_numpy(as_soft_labels(y_val, self.n_classes)).to(self.device)
        if len(va) == 0:
            log.warning("fit without validation rows: early stopping on the training loss")
            va, yva = tr, ytr
        w = torch.from_numpy(inverse_frequency_weights(ytr_np)).to(self.device) if self.cfg.class_weights else None
        opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay,
                               fused=self.device.type == "cpu" or None)   # one kernel per step on the CPU
        self._n_fits += 1
        best, best_state, best_epoch, epoch = float("inf"), None, 0, 0
        fit_seed = self.seed * 1_000_003 + self._n_fits
        masks = DropoutMasks(self.cfg.dropout, fit_seed, self.device)
        with seeded(fit_seed), few_threads(self.device):
            for epoch in range(1, self.cfg.max_epochs + 1):
                self.model.train()
                perm = torch.randperm(len(tr)).to(self.device)
                for start in range(0, len(perm), self.cfg.batch_size):
                    pos = perm[start:start + self.cfg.batch_size]
                    loss = soft_cross_entropy(self._train_logits(tr[pos], masks), ytr[pos], w)
                    check_finite(loss, f"epoch {epoch}, training batch {start // self.cfg.batch_size + 1}")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                self.model.eval()
                val = self._val_loss(va, yva)
                check_finite(val, f"epoch {epoch}, validation loss")
                if val < best - 1e-6:
                    best, best_epoch = val, epoch
                    best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                elif epoch - best_epoch >= self.cfg.patience:
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.model.eval()
        return {"epochs": epoch, "best_epoch": best_epoch, "best_val_loss": best,
                "seconds": time.perf_counter() - t0}

    # rows per inference chunk: the layer-mix input of a chunk is rows x L x D floats (57 MB at 4096 x 7 x 512)
    infer_chunk = 4096

    @torch.no_grad()
    def _mixed(self, idx) -> torch.Tensor:
        """``[n, D]`` the layer mix of rows ``idx``: everything before the head's first dropout, computed once
        per call in chunks, each mixed straight from the pool's features (:meth:`LayerMix.rows`: no gathered
        ``[n, L, D]`` copy at all)."""
        self.model.eval()
        rows = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device)
        out = torch.empty((len(rows), self.x.shape[2]), dtype=self.x.dtype, device=self.device)
        for s in range(0, len(rows), self.infer_chunk):
            out[s:s + self.infer_chunk] = self.model.mix.rows(self.x, rows[s:s + self.infer_chunk])
        return out

    def _logits(self, idx) -> torch.Tensor:
        with torch.no_grad():
            return self.model.head(self._mixed(idx))

    def predict_proba(self, idx) -> np.ndarray:
        return torch.softmax(self._logits(idx).float(), -1).cpu().numpy()

    @torch.no_grad()
    def predict_mc(self, idx, n_samples: int, seed: int) -> np.ndarray:
        """``[n, c, T]`` MC dropout with *consistent* masks (Kirsch et al. 2019): sample t drops the same
        units for every clip, i.e. it is one draw of the weights w_t, as BALD's and BatchBALD's
        p(y_1..y_b | w_t) assume (per-clip masks would give each clip its own weights). A mask on a
        layer's input is a mask on its weight columns, so the layer mix (before the first dropout) runs
        once, and sample t's hidden layer is the unmasked product minus the dropped columns' share:
        ``x (W m_t)^T = x W^T - x[:, drop_t] W[:, drop_t]^T``, a product over about p of the columns
        instead of all of them (exact up to float rounding; the kept columns when fewer are kept)."""
        mixed = self._mixed(idx)
        head = self.model.head
        p = float(self.cfg.dropout)
        scale = 1.0 / max(1.0 - p, 1e-12)
        gen = torch.Generator(device="cpu").manual_seed(int(seed))

        def keep(layer: nn.Linear) -> torch.Tensor:    # [T, in] bool: the columns sample t keeps
            return (torch.rand((n_samples, 1, layer.in_features), generator=gen) >= p)[:, 0].to(self.device)

        first = head.body[1] if isinstance(head.body, nn.Sequential) else None
        keep_out = keep(head.out)                                                   # drawn first, as before
        w_out = head.out.weight[None] * keep_out[:, None, :].to(head.out.weight.dtype) * scale   # [T, c, H]
        out = np.empty((len(mixed), self.n_classes, n_samples), dtype=np.float32)
        if first is None:   # a linear head: the only dropout is on the output layer's input
            for s in range(0, len(mixed), self.infer_chunk):
                logits = torch.einsum("nd,tcd->nct", mixed[s:s + self.infer_chunk], w_out)
                out[s:s + self.infer_chunk] = torch.softmax((logits + head.out.bias[None, :, None]).float(), 1).cpu().numpy()
            return out
        keep_in = keep(first)
        w_t = first.weight.t().contiguous()                                        # [D, H]: columns as rows
        for s in range(0, len(mixed), self.infer_chunk):
            x_t = mixed[s:s + self.infer_chunk].t().contiguous()                    # [D, n]: columns as rows
            full = torch.addmm(first.bias, x_t.t(), w_t, alpha=scale)              # every column kept, / (1 - p)
            logits = torch.empty((n_samples, x_t.shape[1], self.n_classes), dtype=x_t.dtype, device=x_t.device)
            for t in range(n_samples):
                h = _masked_hidden(x_t, full, w_t, first.bias, keep_in[t], scale)
                torch.addmm(head.out.bias, h, w_out[t].t(), out=logits[t])
            out[s:s + self.infer_chunk] = torch.softmax(logits.float(), 2).permute(1, 2, 0).cpu().numpy()
        return out

    @torch.no_grad()
    def embed(self, idx) -> np.ndarray:
        return self.model.head.penultimate(self._mixed(idx)).float().cpu().numpy()

    @torch.no_grad()
    def penultimate_and_logits(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """``([n, H], [n, c])`` in one pass: the factors of BADGE's gradient embeddings."""
        h = self.model.head.penultimate(self._mixed(idx))
        return h.float().cpu().numpy(), self.model.head.out(h).float().cpu().numpy()

    @torch.no_grad()
    def grad_embed(self, idx) -> np.ndarray:
        h = self.model.head.penultimate(self._mixed(idx))
        return badge_gradients(h, self.model.head.out(h)).cpu().numpy()
