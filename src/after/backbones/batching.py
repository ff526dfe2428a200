"""Length-bucketed batches bounded by padded audio seconds, and inference batches that do not change a clip's
outputs.

Clips are sorted by length so a batch pads little; a batch closes when ``len(batch) * longest`` would pass
``batch_seconds`` (the compute a padded batch really costs), so long clips get small batches and short
clips large ones.

Inference (embeddings, predictions, validation losses): an encoder without an attention mask (Whisper,
group-norm wav2vec2/HuBERT) attends to a clip's padding, so a padded clip's outputs depend on its batch
partners. :func:`inference_batches` plans batches of clips with equal
:meth:`~after.backbones.base.Backbone.batch_key` (equal keys pad to the length each has alone), and
:func:`exact_groups` splits a loaded batch by the keys of the real inputs before the forward, so the
guarantee holds even when the durations used for planning were off. Training batches (shuffled, with a
backward pass) stay padded: they call :func:`length_batches` without keys.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

from after.backbones.base import SAMPLE_RATE_HZ


def length_batches(durations_s: Sequence[float], batch_seconds: float, shuffle: bool = False,
                   rng: np.random.Generator | None = None, max_batch_size: int | None = None,
                   keys: Sequence[int] | None = None) -> list[np.ndarray]:
    """Row-index batches. ``shuffle`` permutes the batch order (and ties within a length) with ``rng``.

    ``keys`` (one int per clip): clips are sorted by key, then length, and a batch also closes where the key
    changes, so every batch holds one key.
    """
    if batch_seconds <= 0:
        raise ValueError(f"batch_seconds must be > 0, got {batch_seconds}")
    d = np.asarray(durations_s, dtype=np.float64)
    k = np.zeros(len(d), dtype=np.int64) if keys is None else np.asarray(keys, dtype=np.int64)
    if shuffle:
        if rng is None:
            raise ValueError("shuffle=True needs an rng (np.random.Generator) so batches are reproducible")
        order = np.lexsort((rng.permutation(len(d)), d, k))
    else:
        order = np.lexsort((np.arange(len(d)), d, k))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = d[i]  # sorted ascending within a key: the new clip is the longest so far
        full = (len(cur) + 1) * longest > batch_seconds or (max_batch_size and len(cur) >= max_batch_size)
        if cur and (full or k[i] != k[cur[0]]):
            batches.append(cur)
            cur = []
        cur.append(int(i))
    if cur:
        batches.append(cur)
    out = [np.asarray(b, dtype=np.int64) for b in batches]
    if shuffle:
        out = [out[j] for j in rng.permutation(len(out))]
    return out


def duration_keys(backbone, durations_s: Sequence[float]) -> np.ndarray:
    """``backbone.batch_key`` of each clip's sample count as its duration predicts it: int64 ``[n]``."""
    return np.asarray([backbone.batch_key(int(round(float(s) * SAMPLE_RATE_HZ))) for s in durations_s],
                      dtype=np.int64)


def inference_batches(backbone, durations_s: Sequence[float], batch_seconds: float) -> list[np.ndarray]:
    """:func:`length_batches` of clips that share ``backbone``'s batch key (see the module docstring)."""
    return length_batches(durations_s, batch_seconds, keys=duration_keys(backbone, durations_s))


def key_groups(keys: Sequence[int]) -> list[np.ndarray]:
    """Positions ``0..n-1`` grouped by equal key, groups in order of first appearance: int64 arrays."""
    groups: dict[int, list[int]] = {}
    for pos, key in enumerate(keys):
        groups.setdefault(int(key), []).append(pos)
    return [np.asarray(g, dtype=np.int64) for g in groups.values()]


def exact_groups(backbone, inputs: Sequence) -> list[np.ndarray]:
    """Positions of one loaded batch ``inputs`` split by ``backbone.input_key``: each group is one forward
    whose outputs, clip by clip, are those the clip gets alone."""
    return key_groups([backbone.input_key(x) for x in inputs])


def exact_batches(backbone, durations_s: Sequence[float], batch_seconds: float, load: Callable[[int], object]
                  ) -> Iterator[tuple[np.ndarray, list]]:
    """Yields ``(positions, inputs)``: :func:`inference_batches` of ``durations_s`` loaded with
    ``load(position)``, each split by :func:`exact_groups`, so every forward over ``inputs`` gives each clip
    the outputs it gets alone."""
    for batch in inference_batches(backbone, durations_s, batch_seconds):
        inputs = [load(int(j)) for j in batch]
        for group in exact_groups(backbone, inputs):
            yield batch[group], [inputs[k] for k in group]
