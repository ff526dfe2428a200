"""`after export BUNDLE --onnx model.onnx`: the whole model as one ONNX graph, for deployment without PyTorch.

Graph: input ``audio`` float32 ``[batch, samples]`` (16 kHz mono; every row one whole clip, so clips of
different lengths go one per call), output ``probabilities`` float32 ``[batch, classes]``; both the batch
and the time axis are dynamic. Inside: the encoder's own front end (Whisper: log-mel spectrogram as a
DFT convolution, equal to ``WhisperFeatureExtractor``; wav2vec2 family: per-clip normalisation), every
hidden state, then the bundle's layer mix, pooling and head. Class names are stored in the model's
metadata (``classes``, comma-separated) with ``max_clip_s``: crop longer clips to it, as ``after predict``
does (Whisper's position table ends at 30 s; use segments for long recordings).

Needs the optional extra: ``pip install 'after[onnx]'`` (onnx, onnxruntime, onnxscript).
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from after.errors import AfterError

log = logging.getLogger(__name__)

OPSET = 18
SAMPLES_PER_FRAME = 320      # Whisper: 10 ms mel hop x conv stride 2


class ExportError(AfterError, ValueError):
    """A bundle that cannot be exported as asked; the message says why and what to do."""


class WhisperLogMel(nn.Module):
    """``WhisperFeatureExtractor`` in torch ops ONNX can express: zero-pad to whole encoder frames, reflect-pad,
    a 400-point DFT as a strided convolution (Hann window), power, mel filters, log10, per-clip floor at
    max - 8, scale. ``[B, N]`` -> ``[B, n_mels, 2 * ceil(N / 320)]``."""

    def __init__(self, mel_filters: np.ndarray, n_fft: int = 400, hop: int = 160):
        super().__init__()
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)            # periodic Hann
        angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window   # [2F, n_fft]
        self.register_buffer("basis", basis.float()[:, None, :])
        self.register_buffer("mel", torch.as_tensor(np.asarray(mel_filters), dtype=torch.float32).T)  # [M, F]
        self.n_fft, self.hop, self.n_freq = n_fft, hop, n_fft // 2 + 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        n = audio.shape[1]
        padded = nn.functional.pad(audio, (0, (SAMPLES_PER_FRAME - n % SAMPLES_PER_FRAME) % SAMPLES_PER_FRAME))
        x = nn.functional.pad(padded[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        spec = nn.functional.conv1d(x, self.basis, stride=self.hop)[:, :, :-1]          # [B, 2F, frames]
        power = spec[:, : self.n_freq] ** 2 + spec[:, self.n_freq:] ** 2
        log_spec = torch.log10(torch.clamp(torch.matmul(self.mel, power), min=1e-10))
        floor = log_spec.amax(dim=(1, 2), keepdim=True) - 8.0
        return (torch.maximum(log_spec, floor) + 4.0) / 4.0


class WhisperStates(nn.Module):
    """Whisper's encoder on any length: every hidden state ``[L+1, B, T, D]`` (position table sliced to T)."""

    def __init__(self, backbone):
        super().__init__()
        enc = backbone.encoder
        self.logmel = WhisperLogMel(backbone.fe.mel_filters)
        self.conv1, self.conv2, self.layers, self.norm = enc.conv1, enc.conv2, enc.layers, enc.layer_norm
        self.register_buffer("positions", backbone._full_pos.detach().clone())

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = nn.functional.gelu(self.conv1(self.logmel(audio)))
        x = nn.functional.gelu(self.conv2(x)).permute(0, 2, 1)
        hidden = x + self.positions[: x.shape[1]]
        states = [hidden]
        for layer in self.layers:
            out = layer(hidden, None)
            hidden = out[0] if isinstance(out, tuple) else out
            states.append(hidden)
        states[-1] = self.norm(states[-1])
        return torch.stack(states)


class SSLStates(nn.Module):
    """A wav2vec2-family encoder on unpadded clips: per-clip normalisation, every hidden state."""

    def __init__(self, backbone):
        super().__init__()
        self.model, self.normalize = backbone.model, backbone.normalize

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            mean = audio.mean(dim=1, keepdim=True)
            audio = (audio - mean) / torch.sqrt(((audio - mean) ** 2).mean(dim=1, keepdim=True) + 1e-7)
        return torch.stack(self.model(audio, output_hidden_states=True).hidden_states)


class ExportModel(nn.Module):
    """``audio [B, N]`` -> ``probabilities [B, C]`` for one bundle (frozen or fine-tuned)."""

    def __init__(self, bundle):
        super().__init__()
        from after.backbones.whisper import WhisperBackbone
        self.kind = bundle.kind
        model = bundle.model
        backbone = model.backbone
        if backbone is None:
            raise ExportError(f"{bundle.path}: hand-crafted features ({bundle.meta['encoder']['kind']}) have no "
                              "ONNX form; export a bundle with a neural encoder")
        self.states = WhisperStates(backbone) if isinstance(backbone, WhisperBackbone) else SSLStates(backbone)
        if self.kind == "frozen":
            self.head = model.head
            self.register_buffer("mean", model.norm_mean.detach().clone())
            self.register_buffer("std", model.norm_std.detach().clone())
        else:
            self.mix, self.pool, self.head = model.mix, model.pool, model.head
            self.normalize_layers = model.model_cfg.normalize_layers

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        hidden = self.states(audio)                                        # [L+1, B, T, D]
        if self.kind == "frozen":
            pooled = hidden.mean(dim=2).transpose(0, 1)                    # [B, L+1, D]: every frame is real
            logits = self.head((pooled - self.mean) / self.std)
        else:
            if self.normalize_layers:
                hidden = nn.functional.layer_norm(hidden, hidden.shape[-1:])
            frames = self.mix(hidden.permute(1, 2, 0, 3))                 # [B, T, D]
            mask = torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
            logits = self.head(self.pool(frames, mask))
        return torch.softmax(logits, dim=-1)


def export_onnx(bundle, path: str | Path, example_seconds: float = 2.0) -> Path:
    """Write ``bundle`` (see :func:`~after.training.bundle.load_bundle`) as ONNX to ``path``."""
    try:
        import onnx
    except ImportError as exc:
        raise ExportError("ONNX export needs the onnx extra: pip install 'after[onnx]'") from exc
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = ExportModel(bundle).eval().cpu()
    example = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, (1, int(example_seconds * 16_000)))
                               .astype(np.float32))
    batch, samples = torch.export.Dim("batch", min=1), torch.export.Dim("samples", min=SAMPLES_PER_FRAME * 2)
    with torch.no_grad():
        program = torch.onnx.export(model, (example,), input_names=["audio"], output_names=["probabilities"],
                                    dynamic_shapes={"audio": {0: batch, 1: samples}}, opset_version=OPSET,
                                    dynamo=True, external_data=False, verbose=False)
    proto = program.model_proto
    meta = {"classes": ",".join(bundle.classes), "kind": bundle.kind, "sample_rate_hz": "16000",
            "encoder": bundle.meta["encoder"]["source"], "max_clip_s": str(bundle.max_clip_s)}
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(out))
    log.info("ONNX model written to %s (%.1f MB)", out, out.stat().st_size / 2**20)
    return out


def onnx_session(path: str | Path):
    import onnxruntime as ort
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def onnx_probabilities(session, wave: np.ndarray) -> np.ndarray:
    """``[1, C]`` probabilities of one 16 kHz clip from an exported model."""
    return session.run(["probabilities"], {"audio": np.asarray(wave, dtype=np.float32)[None, :]})[0]


def check_onnx(bundle, path: str | Path, seconds: tuple[float, ...] = (1.3, 3.1)) -> float:
    """Max |p difference| between onnxruntime and the PyTorch bundle on noise clips of two lengths."""
    session = onnx_session(path)
    rng = np.random.default_rng(1)
    worst = 0.0
    for s in seconds:
        wave = rng.normal(0, 0.1, int(s * 16_000)).astype(np.float32)
        worst = max(worst, float(np.abs(onnx_probabilities(session, wave) - bundle.predict_proba([wave])).max()))
    return worst
