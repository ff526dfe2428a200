"""Frozen-encoder embeddings: every layer mean-pooled over valid frames, computed once and cached per clip.

Cache layout: ``<cache_dir>/embeddings/<backbone key>/<clip hash[:2]>/<clip hash>.npy`` holding
``[L+1, D]``. The backbone key hashes the architecture, every weight and the extraction settings; the
clip hash is the hash of the audio file's bytes, so two manifests that share clips share their cache and
a re-encoded file is recomputed. A segment of a recording (a manifest row with ``start_s``/``end_s``, or a
``(path, start_s, end_s)`` item) adds its span, in milliseconds, to the clip hash: two segments of one
recording are two entries. Default cache dir: ``$AFTER_CACHE`` or ``~/.cache/after``.

Batches never change a clip's embedding: Whisper (no attention mask) and group-norm wav2vec2 models see a
clip's padding, so neural backbones run on batches of one :meth:`~after.backbones.base.Backbone.batch_key`
(see :mod:`after.backbones.batching`), and each clip gets, up to float rounding, the embedding it gets alone.

Neural backbone keys carry the tag ``batches=exact``: entries written before that rule (computed in
mixed-length batches) live under another key, are never mixed with new ones, and are recomputed on first
use. eGeMAPS/log-mel embed each clip alone, so their keys did not change.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from after.atomic import atomic_open
from after.backbones.base import Backbone, masked_mean
from after.backbones.batching import exact_groups, inference_batches, length_batches
from after.backbones.registry import AnyBackbone, load_backbone
from after.data.audio import AudioSpan, as_span, load_span

log = logging.getLogger(__name__)

CACHE_FORMAT = "v1"
# Neural entries computed in batches of one batch_key (batch-independent); older ones lack the tag.
EXACT_BATCHES_TAG = "batches=exact"
Progress = Callable[[int, int], None]


def default_cache_dir() -> Path:
    return Path(os.environ.get("AFTER_CACHE") or Path.home() / ".cache" / "after")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_hash(path: str | Path) -> str:
    """blake2b of the file's bytes, memoised per (path, size, mtime) within the process."""
    st = os.stat(path)
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo not in _FILE_HASHES:
        h = hashlib.blake2b(digest_size=20)
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _FILE_HASHES[memo] = h.hexdigest()
    return _FILE_HASHES[memo]


def clip_hash(span: AudioSpan) -> str:
    """The cache identity of a clip: its file's bytes, plus its span (in ms) when it is a segment."""
    h = file_hash(span.path)
    if not span.is_segment:
        return h
    ms = lambda v: "" if v is None else str(int(round(v * 1000)))   # noqa: E731
    return hashlib.blake2b(f"{h}|{ms(span.start_s)}-{ms(span.end_s)}".encode(), digest_size=20).hexdigest()


FEATURE_KINDS = ("hidden_states", "frontend")


def backbone_key(backbone: AnyBackbone, max_seconds: float, features: str = "hidden_states") -> str:
    """Identity of (architecture + weights + extraction settings): the cache folder name.

    Neural backbones add :data:`EXACT_BATCHES_TAG`, so embeddings computed in mixed-length batches (before
    batches were split by ``batch_key``) are not read back as batch-independent ones.
    """
    parts = f"{CACHE_FORMAT}|{backbone.kind}|{backbone.source}|{backbone.fingerprint()}|max_s={max_seconds}"
    if isinstance(backbone, Backbone):
        parts += f"|{EXACT_BATCHES_TAG}"
    if features != "hidden_states":
        parts += f"|features={features}"
    return hashlib.blake2b(parts.encode(), digest_size=16).hexdigest()


def has_frontend(backbone: AnyBackbone) -> bool:
    """Whether ``backbone`` exposes its convolutional front end without positions (Whisper does)."""
    return callable(getattr(backbone, "frontend", None))


@torch.inference_mode()
def pooled_hidden_states(backbone: Backbone, waves: Sequence[np.ndarray], features: str = "hidden_states"
                         ) -> np.ndarray:
    """One batch through a neural backbone: ``[B, L+1, D]`` float32, each layer mean-pooled over valid frames
    (``features="frontend"``: ``[B, 1, D]``, the front end before positional embeddings).

    The batch runs as one forward per group of equal ``batch_key``, so each clip's row is what it gets alone.
    """
    device = backbone_device(backbone)
    out: np.ndarray | None = None
    for group in exact_groups(backbone, waves):
        part = [waves[k] for k in group]
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=device.type == "cuda"):
            res = backbone.frontend(part) if features == "frontend" else backbone(part)
            pooled = masked_mean(res.hidden_states.float(), res.mask)   # [L+1, b, D]
        rows = pooled.transpose(0, 1).float().cpu().numpy()
        if out is None:
            out = np.empty((len(waves), *rows.shape[1:]), dtype=np.float32)
        out[group] = rows
    return out if out is not None else np.zeros((0, 0, 0), dtype=np.float32)


def backbone_device(backbone: Backbone) -> torch.device:
    return next(backbone.parameters()).device


def _write_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_open(path, "wb") as fh:
        np.save(fh, array)


def _read_cached(f: Path, out: np.ndarray, i: int) -> bool:
    """``out[i] = `` the cache entry ``f``; False (with a warning) when the entry is damaged, so it is recomputed."""
    try:
        out[i] = np.load(f, allow_pickle=False)
        return True
    except (ValueError, OSError, EOFError) as exc:   # truncated, not an .npy file, or another shape
        log.warning("embedding cache entry %s is damaged (%s); computing it again", f, exc)
        return False


def _storable(row: np.ndarray, store_dtype: str) -> np.ndarray:
    """``row`` as ``store_dtype``, or float32 where float16 would overflow (eGeMAPS has values > 65504)."""
    if np.dtype(store_dtype) == np.float16 and np.abs(row).max() > 6e4:
        return row.astype(np.float32)
    return row.astype(store_dtype)


def extract_embeddings(
    backbone: str | AnyBackbone,
    clips: Sequence,
    cache_dir: str | Path | None = None,
    batch_seconds: float = 60.0,
    max_seconds: float = 30.0,
    store_dtype: str = "float16",
    device: str | torch.device | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    features: str = "hidden_states",
) -> np.ndarray:
    """Embeddings of ``clips``: ``[n, L+1, D]`` float32 (``[n, 1, D]`` for egemaps/logmel).

    A clip is an audio path, a ``(path, start_s, end_s)`` span, an :class:`~after.data.audio.AudioSpan` or a
    manifest row (:class:`~after.data.manifest.Utterance`, whose segment span is read and whose
    ``duration_s`` sorts the batches without opening the file).

    Neural backbones run frozen, in eval mode under ``inference_mode``, on length-sorted batches of at most
    ``batch_seconds`` audio whose clips share a ``batch_key`` (so ``batch_seconds`` never changes a clip's
    embedding); clips are cropped to ``max_seconds``. Cached rows are stored as
    ``store_dtype`` (``float16`` halves the disk; the values are mean-pooled activations, well within
    its range). ``progress(done, total)`` is called after each batch.
    ``features="frontend"``: ``[n, 1, D]``, the convolutional front end before positional embeddings
    (Whisper only; see :meth:`WhisperBackbone.frontend`), cached under its own key.
    """
    if features not in FEATURE_KINDS:
        raise ValueError(f"features must be one of {FEATURE_KINDS}, got {features!r}")
    bb = load_backbone(backbone) if isinstance(backbone, str) else backbone
    neural = isinstance(bb, Backbone)
    if features == "frontend" and not has_frontend(bb):
        raise ValueError(f"backbone {bb.kind!r} exposes no front end without positions; use hidden states")
    if neural:
        bb.eval().to(pick_device(device))
    spans = [as_span(c) for c in clips]
    n = len(spans)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / "embeddings" / backbone_key(bb, max_seconds, features)
    hashes = [clip_hash(sp) for sp in spans] if use_cache else [""] * n
    n_states = 1 if features == "frontend" else bb.num_hidden_states
    out = np.zeros((n, n_states, bb.hidden_size), dtype=np.float32)
    todo = []
    for i, h in enumerate(hashes):
        f = folder / h[:2] / f"{h}.npy"
        if use_cache and f.is_file() and _read_cached(f, out, i):
            continue
        todo.append(i)
    log.info("embeddings (%s): %d of %d clips cached, computing %d", bb.kind, n - len(todo), n, len(todo))
    if progress:
        progress(n - len(todo), n)
    if not todo:
        return out
    durations = [min(spans[i].length_s(), max_seconds) for i in todo]
    done = n - len(todo)
    batches = inference_batches(bb, durations, batch_seconds) if neural else length_batches(durations, batch_seconds)
    for batch in batches:
        rows = [todo[j] for j in batch]
        waves = [load_span(spans[i], max_duration_s=max_seconds) for i in rows]
        emb = pooled_hidden_states(bb, waves, features) if neural else bb.embed(waves)
        for i, e in zip(rows, emb):
            out[i] = e
            if use_cache:
                _write_atomic(folder / hashes[i][:2] / f"{hashes[i]}.npy", _storable(e, store_dtype))
        done += len(rows)
        if progress:
            progress(done, n)
    if use_cache:
        # Re-read what was stored so cached and fresh runs return bit-identical arrays.
        for i in todo:
            out[i] = np.load(folder / hashes[i][:2] / f"{hashes[i]}.npy")
    return out
