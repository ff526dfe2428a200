"""Load a pretrained speech encoder by hub id, alias or local folder, the way users load it, and check
that its tensors really arrived.

transformers only *logs* the keys it could not find, so a folder with a renamed or deleted tensor silently
gives a randomly initialised layer. :func:`check_loaded` turns that into :class:`MissingWeightsError`.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterable

import torch
from safetensors import SafetensorError
from torch import nn

from after.backbones.base import MissingWeightsError

log = logging.getLogger(__name__)

# Short names users may type; anything else is taken as a local folder or a hub id.
ALIASES = {
    "wav2vec2-base": "facebook/wav2vec2-base",
    "wav2vec2-large-robust": "facebook/wav2vec2-large-robust",
    "hubert-base": "facebook/hubert-base-ls960",
    "hubert-large": "facebook/hubert-large-ll60k",
    "wavlm-base-plus": "microsoft/wavlm-base-plus",
    "wavlm-large": "microsoft/wavlm-large",
    "data2vec-audio-base": "facebook/data2vec-audio-base",
    "whisper-tiny.en": "openai/whisper-tiny.en",
    "whisper-tiny": "openai/whisper-tiny",
    "whisper-base": "openai/whisper-base",
    "whisper-small": "openai/whisper-small",
}

# Keys a checkpoint may lack without harm: masked_spec_embed is only used for SpecAugment-style masking
# in pre-training, and many fine-tuned wav2vec2 checkpoints drop it.
BENIGN_MISSING = ("masked_spec_embed",)


def resolve_source(spec: str) -> str:
    """A local folder (if it exists) or a hub id."""
    p = Path(spec).expanduser()
    if p.exists():
        if not p.is_dir() or not (p / "config.json").is_file():
            raise FileNotFoundError(f"{p}: not a Hugging Face model folder (it needs config.json and the weights)")
        return str(p.resolve())
    return ALIASES.get(spec, spec)


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load report and its weight-loading progress bar: we do our own, stricter
    check right after, and the CLI draws its own progress."""
    from transformers.utils import logging as hf_logging
    before = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


def from_pretrained(cls, source: str, **kwargs):
    """``cls.from_pretrained(source, output_loading_info=True)`` with a clear error when it cannot be found."""
    try:
        with _quiet_transformers():
            return cls.from_pretrained(source, output_loading_info=True, **kwargs)
    except SafetensorError as exc:      # a truncated or damaged .safetensors file
        files = ", ".join(str(f) for f in _weight_files(source)) or source
        raise MissingWeightsError(f"{files}: the weights file does not load ({exc}); it is truncated or "
                                  "damaged: copy or download the model folder again") from None
    except OSError as exc:
        raise FileNotFoundError(
            f"cannot load backbone {source!r}: {exc.__class__.__name__}: {str(exc).splitlines()[0]} "
            "(give a local model folder, or a hub id with network access / a filled HF cache)") from exc


def _weight_files(source: str) -> list[Path]:
    p = Path(source)
    if not p.is_dir():
        try:
            from huggingface_hub import snapshot_download
            p = Path(snapshot_download(source, allow_patterns=["*.safetensors", "*.json"], local_files_only=True))
        except Exception:  # hub id not in the local cache: nothing to compare against
            return []
    return sorted(p.glob("*.safetensors"))


def check_loaded(model: nn.Module, source: str, loading_info: dict, encoder_prefixes: Iterable[str],
                 file_prefixes: tuple[str, ...] = ("",), n_value_checks: int = 8) -> None:
    """Raise :class:`MissingWeightsError` unless every encoder tensor came from the checkpoint.

    ``encoder_prefixes``: state-dict key prefixes of the part we use (e.g. ``("encoder.",)`` for Whisper,
    ``("",)`` for wav2vec2). ``file_prefixes``: what the checkpoint's keys may carry in front of the model's
    own keys (``"wav2vec2."`` when a ``Wav2Vec2ForCTC`` checkpoint feeds a bare ``Wav2Vec2Model``).
    Besides transformers' own missing-key list, up to ``n_value_checks`` tensors are compared with the
    safetensors file, so a load that *claims* success but kept random weights is caught too.
    """
    prefixes = tuple(encoder_prefixes)
    missing = sorted(k for k in loading_info.get("missing_keys", ())
                     if k.startswith(prefixes) and not any(b in k for b in BENIGN_MISSING))
    mismatched = [str(k) for k in loading_info.get("mismatched_keys", ())]
    if missing or mismatched:
        shown = ", ".join((missing + mismatched)[:5])
        raise MissingWeightsError(
            f"{source}: {len(missing)} encoder tensor(s) missing and {len(mismatched)} mismatched in the checkpoint "
            f"(e.g. {shown}); the model would run with random weights there. Check that the folder holds the "
            "complete weights of this architecture (and load Whisper with WhisperModel, not WhisperEncoder).")
    files = _weight_files(source)
    if not files:
        log.debug("%s: no safetensors file to compare against; relied on the loading report", source)
        return
    from safetensors import safe_open
    state = {k: v for k, v in model.state_dict().items() if k.startswith(prefixes)}
    checked = 0
    file_keys: set[str] = set()
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            keys = set(fh.keys())
            file_keys |= keys
            for name, tensor in state.items():
                if checked >= n_value_checks:
                    break
                key = next((fp + name for fp in file_prefixes if fp + name in keys), None)
                if key is not None and "embed_positions" not in name:
                    stored = fh.get_tensor(key)
                    if stored.shape != tensor.shape or not torch.equal(tensor.detach().cpu().to(stored.dtype), stored):
                        raise MissingWeightsError(f"{source}: tensor {key} differs from the file after loading")
                    checked += 1
    if not any(fp + k in file_keys for k in state for fp in file_prefixes):
        raise MissingWeightsError(
            f"{source}: none of the model's encoder keys are in {', '.join(f.name for f in files)} "
            f"(file keys look like {sorted(file_keys)[:2]}); the checkpoint does not fit this architecture")
    log.debug("%s: loading check passed (%d tensors compared with the file)", source, checked)
