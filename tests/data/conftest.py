"""Synthetic audio for miniature corpus trees: short noise bursts written with soundfile."""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from after.data.manifest import Manifest, Utterance


def write_wav(path: Path, seconds: float = 0.25, sample_rate_hz: int = 16_000, channels: int = 1,
              fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * sample_rate_hz))
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    data = (0.1 * rng.standard_normal((n, channels))).astype(np.float32)
    sf.write(str(path), data, sample_rate_hz, subtype="PCM_16", format=fmt)
    return path


@pytest.fixture
def make_wav() -> Callable[..., Path]:
    return write_wav


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[list[str]], Path]:
    """``tree(["Actor_01/03-01-...wav", ...])`` writes a short clip at each relative path under a fresh root."""

    def build(rel_paths: list[str], root_name: str = "corpus") -> Path:
        root = tmp_path / root_name
        for rel in rel_paths:
            write_wav(root / rel)
        root.mkdir(parents=True, exist_ok=True)
        return root

    return build


def toy_manifest(speakers: dict[str, int], sessions: dict[str, str] | None = None,
                 emotions: tuple[str, ...] = ("angry", "happy", "neutral", "sad"), corpus: str = "toy") -> Manifest:
    """A manifest without audio: ``speakers[name]`` utterances per speaker, emotions cycling."""
    utts = []
    for spk, n in speakers.items():
        for i in range(n):
            utts.append(Utterance(id=f"{corpus}_{spk}_{i:03d}", path=f"/nowhere/{spk}_{i:03d}.wav", corpus=corpus,
                                  speaker=spk, gender="unknown", emotion=emotions[i % len(emotions)],
                                  original_label=emotions[i % len(emotions)], language="en", duration_s=1.0,
                                  session=(sessions or {}).get(spk, "")))
    return Manifest(utts)


@pytest.fixture(scope="session")
def toy() -> Callable[..., Manifest]:
    """:func:`toy_manifest`, as a fixture (session-scoped, so Hypothesis tests may use it)."""
    return toy_manifest
