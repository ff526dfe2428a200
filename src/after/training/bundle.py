"""The model bundle: one self-describing folder that holds everything needed to label new audio.

Written by ``after train`` (per fold and a final model) and ``after al`` (the learner after the latest
round) with :func:`save_bundle`, read back by :func:`load_bundle`. Layout::

    bundle.json        format, kind (frozen | finetuned), classes, encoder (source, kind, content hash),
                       model/head settings, max_clip_s, metrics, provenance (manifest hash, package version)
    head.safetensors   frozen: layer weights + MLP head + norm.mean/norm.std [L+1, D] (a consensus of
                       annotator heads: heads.<j>.* per trained head, the same norm);
                       finetuned: mix.* / pool.* / head.*
    encoder/           finetuned only: the whole fine-tuned encoder as a Hugging Face folder
    config.yaml        the resolved config of the run that trained it

A frozen bundle names its encoder (local folder or hub id) and the hash of its weights
(:meth:`~after.backbones.base.Backbone.fingerprint`); loading refuses an encoder whose weights changed.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from after.atomic import atomic_write_text
from after.backbones.base import Backbone, masked_mean
from after.backbones.batching import exact_groups
from after.errors import AfterError
from after.training.config import HeadConfig, ModelConfig
from after.training.gmpatl.amsoftmax import CosineLinear

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
BUNDLE_FILE = "bundle.json"


class BundleError(AfterError, ValueError):
    """A model bundle that cannot be written or loaded; the message names the folder and what to do."""


def _package_version() -> str:
    from after import __version__
    return __version__


def file_digest(path: str | Path) -> str:
    """blake2b of a file's bytes ('' when the file does not exist)."""
    from after.backbones.embeddings import file_hash
    return file_hash(path) if Path(path).is_file() else ""


class ConsensusHead(nn.Module):
    """The annotator-heads learner as one head: the mean of its trained heads' probabilities (the expected
    vote share, what an ``after al`` run with ``learner.kind: annotator_heads`` evaluated each round).

    ``forward`` gives the log of that mean, so a softmax of it (``after predict``, ONNX export) is the mean
    itself; ``penultimate`` concatenates the heads' penultimate layers.
    """

    def __init__(self, heads: Sequence[nn.Module], annotators: Sequence[str]):
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.annotators = list(annotators)

    def outputs(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log mean probability [B, C], concatenated penultimate [B, A*H])``."""
        hs = [head.penultimate(z) for head in self.heads]
        probs = torch.stack([torch.softmax(head.head.out(h).float(), -1) for head, h in zip(self.heads, hs)])
        return torch.log(probs.mean(dim=0).clamp_min(1e-12)), torch.cat(hs, dim=-1)

    def penultimate(self, z: torch.Tensor) -> torch.Tensor:
        return self.outputs(z)[1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.outputs(z)[0]


def head_outputs(head: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, penultimate)`` of a frozen bundle's head (one EmbeddingHead or a consensus) on standardised
    pooled states ``z``."""
    if isinstance(head, ConsensusHead):
        return head.outputs(z)
    h = head.penultimate(z)
    return head.head.out(h), h


class FrozenModel(nn.Module):
    """Frozen encoder -> every hidden state mean-pooled over valid frames -> standardised -> layer mix -> head.

    The same computation :class:`~after.training.learners.EmbeddingLearner` trains on (its cached
    embeddings are exactly these pooled states).
    """

    def __init__(self, backbone, head: nn.Module, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.backbone = backbone if isinstance(backbone, nn.Module) else None
        self.features = None if self.backbone is not None else backbone   # egemaps / logmel
        self.head = head
        self.register_buffer("norm_mean", mean.float())
        self.register_buffer("norm_std", std.float())

    def pooled(self, waves) -> torch.Tensor:
        """``[B, L+1, D]`` float32: what the embedding cache holds for these clips."""
        if self.backbone is None:
            return torch.from_numpy(self.features.embed([np.asarray(w) for w in waves])).to(self.norm_mean.device)
        out = self.backbone(waves)
        return masked_mean(out.hidden_states.float(), out.mask).transpose(0, 1)

    def classify(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, penultimate)`` from pooled states ``[B, L+1, D]``."""
        return head_outputs(self.head, (pooled.float() - self.norm_mean) / self.norm_std)

    def penultimate(self, waves) -> torch.Tensor:
        return self.classify(self.pooled(waves))[1]

    def forward(self, waves) -> torch.Tensor:
        return self.classify(self.pooled(waves))[0]


@dataclass
class Bundle:
    """A loaded bundle: ``model(waves) -> logits``; :meth:`predict_proba` for numpy callers."""

    path: Path
    kind: str
    classes: list[str]
    model: nn.Module
    meta: dict
    config: dict = field(default_factory=dict)

    @property
    def max_clip_s(self) -> float:
        return float(self.meta.get("max_clip_s", 30.0))

    @property
    def metrics(self) -> dict:
        return self.meta.get("metrics", {})

    @property
    def provenance(self) -> dict:
        return self.meta.get("provenance", {})

    def batch_key(self, n_samples: int) -> int:
        """The encoder's :meth:`~after.backbones.base.Backbone.batch_key` (one key for hand-crafted features)."""
        bb = getattr(self.model, "backbone", None)
        return 0 if bb is None else bb.batch_key(n_samples)

    def _groups(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One forward per group of equal batch key, so a clip's outputs do not depend on its batch."""
        bb = getattr(self.model, "backbone", None)
        return [np.arange(len(waves))] if bb is None else exact_groups(bb, waves)

    @torch.inference_mode()
    def predict(self, waves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities [B, C], penultimate embeddings [B, H])`` for one batch of 16 kHz waveforms; each
        clip's as it gets alone."""
        self.model.eval()
        proba, emb = [None] * len(waves), [None] * len(waves)
        for group in self._groups(waves):
            logits, h = self._logits([waves[k] for k in group])
            for k, p, e in zip(group, torch.softmax(logits.float(), -1).cpu().numpy(), h.float().cpu().numpy()):
                proba[k], emb[k] = p, e
        return np.stack(proba), np.stack(emb)

    def _logits(self, waves: list) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, penultimate)`` of one forward."""
        if self.kind == "finetuned":
            h = self.model.penultimate(waves)
            return self.model.head.out(h), h
        return self.model.classify(self.model.pooled(waves))

    def predict_proba(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        return self.predict(waves)[0]

    @property
    def normalize(self) -> str:
        """How the head's training features were standardised (global, corpus or speaker)."""
        return str(self.meta.get("head", {}).get("normalize", "global"))

    @torch.inference_mode()
    def pooled(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """``[B, L+1, D]`` the frozen encoder's pooled states, before any standardisation (frozen bundles)."""
        if self.kind != "frozen":
            raise ValueError(f"{self.path}: a {self.kind} bundle has no frozen pooled features to standardise")
        self.model.eval()
        out = [None] * len(waves)
        for group in self._groups(waves):
            for k, x in zip(group, self.model.pooled([waves[k] for k in group]).float().cpu().numpy()):
                out[k] = x
        return np.stack(out)

    @torch.inference_mode()
    def predict_standardised(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` on pooled states the caller already standardised (per corpus or speaker)."""
        self.model.eval()
        z = torch.from_numpy(np.ascontiguousarray(z, np.float32)).to(self.model.norm_mean.device)
        logits, h = head_outputs(self.model.head, z)
        return torch.softmax(logits.float(), -1).cpu().numpy(), h.float().cpu().numpy()


def _head_settings(cfg: HeadConfig) -> dict:
    return {"layers": cfg.layers, "hidden_dim": cfg.hidden_dim, "dropout": cfg.dropout, "normalize": cfg.normalize}


def _encoder_entry(backbone, spec: str) -> dict:
    """Where the frozen encoder comes from: a local folder or hub id (hand-crafted features: their name)."""
    source = str(backbone.source) if isinstance(backbone, Backbone) else spec
    return {"source": source, "kind": backbone.kind, "fingerprint": backbone.fingerprint()}


def save_bundle(folder: str | Path, learner, classes: Sequence[str], *, backbone: str, head_cfg: HeadConfig,
                model_cfg: ModelConfig | None = None, config: dict | None = None, metrics: dict | None = None,
                manifest: str | Path | None = None, max_clip_s: float = 30.0, extra: dict | None = None,
                annotators: Sequence[str] = ()) -> Path:
    """Write ``learner`` (an EmbeddingLearner, an AnnotatorHeadsLearner or a FineTuneLearner) as a bundle in
    ``folder``.

    ``backbone``: the encoder spec the learner's features came from (frozen path). ``config``: the
    resolved run config; ``metrics``: its evaluation figures; ``manifest``: the training manifest (hashed).
    An AnnotatorHeadsLearner is written as the consensus of its trained heads (:class:`ConsensusHead`);
    ``annotators`` names its heads (default: annotator_0, ...).
    """
    from safetensors.torch import save_file
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"format": BUNDLE_FORMAT, "classes": list(classes), "head": _head_settings(head_cfg),
            "max_clip_s": float(max_clip_s), "metrics": metrics or {}, **(extra or {})}
    if hasattr(learner, "norm_mean") or getattr(learner, "learns_from_votes", False):
        from after.backbones.registry import load_backbone
        bb = load_backbone(backbone)
        state, first, consensus = _frozen_state(learner, annotators)
        state["norm.mean"] = torch.from_numpy(np.ascontiguousarray(first.norm_mean, dtype=np.float32))
        state["norm.std"] = torch.from_numpy(np.ascontiguousarray(first.norm_std, dtype=np.float32))
        meta.update(kind="frozen", encoder=_encoder_entry(bb, backbone),
                    shape=[int(first.norm_mean.shape[0]), int(first.norm_mean.shape[1])],
                    **({"consensus": consensus} if consensus else {}))
    elif hasattr(learner, "model") and hasattr(learner.model, "backbone"):
        model = learner.model
        model.backbone.save_pretrained(str(out / "encoder"))
        state = {prefix + k: v.detach().cpu().contiguous()
                 for m, prefix in ((model.mix, "mix."), (model.pool, "pool."), (model.head, "head."))
                 for k, v in m.state_dict().items()}
        mc = model_cfg or model.model_cfg
        if isinstance(model.head.out, CosineLinear):   # an AM-Softmax head (GMP-ATL): scaled cosines, no bias
            meta["head_out"] = {"kind": "cosine", "scale": float(model.head.out.scale)}
        meta.update(kind="finetuned", model={"pooling": mc.pooling, "normalize_layers": mc.normalize_layers},
                    encoder={"source": str(model.backbone.source), "kind": model.backbone.kind,
                             "fingerprint": model.backbone.fingerprint(), "folder": "encoder"})
    else:
        raise BundleError(f"{out}: a {type(learner).__name__} cannot be saved as a model bundle "
                          "(only the embedding and fine-tuning learners can)")
    meta["provenance"] = {"package_version": _package_version(), "torch_version": torch.__version__,
                          "manifest": str(manifest or ""),
                          "manifest_hash": file_digest(manifest) if manifest else "",
                          "weights_hash": meta["encoder"]["fingerprint"]}
    save_file(state, str(out / "head.safetensors"))
    if config is not None:
        import yaml
        atomic_write_text(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    atomic_write_text(out / BUNDLE_FILE, json.dumps(meta, indent=1, default=_jsonable))
    log.info("model bundle (%s, %d classes) written to %s", meta["kind"], len(classes), out)
    return out


def _frozen_state(learner, annotators: Sequence[str]) -> tuple[dict, object, dict]:
    """(head tensors, the learner that holds the standardisation, the consensus entry or {})."""
    def tensors(model, prefix=""):
        return {prefix + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if not getattr(learner, "learns_from_votes", False):
        return tensors(learner.model), learner, {}
    slots = [a for a, t in enumerate(learner.trained) if t]
    if not slots:
        raise BundleError("an annotator-heads learner with no trained head cannot be saved: no annotator has "
                          "voted yet")
    names = list(annotators) or [f"annotator_{a}" for a in range(len(learner.heads))]
    state = {k: v for j, a in enumerate(slots) for k, v in tensors(learner.heads[a].model, f"heads.{j}.").items()}
    return state, learner.heads[slots[0]], {"annotators": [names[a] for a in slots]}


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    raise TypeError(f"{type(x).__name__} is not JSON serialisable")


def _read_meta(folder: Path) -> dict:
    file = folder / BUNDLE_FILE
    if not file.is_file():
        raise BundleError(f"{folder}: not a model bundle ({BUNDLE_FILE} missing); give the model/ folder that "
                          "`after train` or `after al` wrote in its run directory")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{file}: does not parse ({exc}); the bundle is damaged, write it again") from exc
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{file}: bundle format {meta.get('format')!r}, this version of after reads "
                          f"format {BUNDLE_FORMAT}; load it with the version that wrote it "
                          f"({meta.get('provenance', {}).get('package_version', '?')})")
    return meta


def _frozen_model(folder: Path, meta: dict, state: dict, verify: bool) -> FrozenModel:
    from after.backbones.registry import load_backbone
    from after.training.learners import EmbeddingHead
    enc = meta["encoder"]
    try:
        bb = load_backbone(enc["source"])
    except (FileNotFoundError, OSError) as exc:
        raise BundleError(f"{folder}: its frozen encoder {enc['source']!r} cannot be loaded ({exc}); put the "
                          "same weights at that path, or retrain") from exc
    if verify and bb.fingerprint() != enc["fingerprint"]:
        raise BundleError(f"{folder}: the encoder at {enc['source']!r} is not the one this model was trained on "
                          f"(weights hash {bb.fingerprint()[:12]} != {enc['fingerprint'][:12]}); restore those "
                          "weights or retrain")
    n_layers, dim = meta["shape"]

    def one_head(prefix: str = "") -> EmbeddingHead:
        head = EmbeddingHead(n_layers, dim, len(meta["classes"]), HeadConfig(**meta["head"]))
        head.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)
                              and not k.startswith("norm.")})
        return head
    if "consensus" in meta:
        names = meta["consensus"]["annotators"]
        head = ConsensusHead([one_head(f"heads.{j}.") for j in range(len(names))], names)
    else:
        head = one_head()
    model = FrozenModel(bb, head, state["norm.mean"], state["norm.std"])
    if isinstance(bb, Backbone):
        model.backbone.eval()
    return model.eval()


def _finetuned_model(folder: Path, meta: dict, state: dict):
    from after.backbones.registry import load_backbone
    from after.training.model import SERModel
    bb = load_backbone(str(folder / meta["encoder"]["folder"]))
    mc = ModelConfig(backbone=str(folder / "encoder"), freeze="encoder", **meta["model"])
    model = SERModel(bb, len(meta["classes"]), mc, HeadConfig(**meta["head"]))
    if meta.get("head_out", {}).get("kind") == "cosine":
        linear = model.head.out
        model.head.out = CosineLinear(linear.in_features, linear.out_features, meta["head_out"]["scale"])
    for m, prefix in ((model.mix, "mix."), (model.pool, "pool."), (model.head, "head.")):
        m.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    return model.eval()


def load_bundle(path: str | Path, device: str | torch.device | None = None, verify: bool = True) -> Bundle:
    """Load a bundle written by :func:`save_bundle`; ``verify`` checks the frozen encoder's weights hash."""
    from safetensors.torch import load_file
    from after.backbones.embeddings import pick_device
    folder = Path(path)
    meta = _read_meta(folder)
    state = load_file(str(folder / "head.safetensors"))
    if meta["kind"] == "frozen":
        model = _frozen_model(folder, meta, state, verify)
    elif meta["kind"] == "finetuned":
        model = _finetuned_model(folder, meta, state)
    else:
        raise BundleError(f"{folder}: unknown bundle kind {meta['kind']!r}")
    config = {}
    if (folder / "config.yaml").is_file():
        import yaml
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}
    model.to(pick_device(device))
    return Bundle(folder, meta["kind"], list(meta["classes"]), model, meta, config)
