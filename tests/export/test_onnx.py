"""ONNX export: the whole model (encoder front end, encoder, layer mix, pooling, head) against PyTorch."""
import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
from tiny_encoders import make_tiny, tones  # noqa: E402

pytest.importorskip("onnxruntime", reason="ONNX export needs the onnx extra: pip install 'after[onnx]'")

from after.backbones.embeddings import extract_embeddings  # noqa: E402
from after.cli import main  # noqa: E402
from after.data.audio import load_audio  # noqa: E402
from after.export.onnx import ExportError, export_onnx, onnx_probabilities, onnx_session  # noqa: E402
from after.training.bundle import load_bundle, save_bundle  # noqa: E402
from after.training.config import HeadConfig, ModelConfig, TrainConfig  # noqa: E402
from after.training.learners import EmbeddingLearner  # noqa: E402

WHISPER = Path(__file__).resolve().parents[3] / "shared" / "models" / "whisper-tiny.en"
HEAD = HeadConfig(hidden_dim=16, max_epochs=30, patience=30)


def _onnx_vs_torch(bundle, path, waves) -> float:
    session = onnx_session(path)
    return max(float(np.abs(onnx_probabilities(session, w) - bundle.predict_proba([w])).max()) for w in waves)


@pytest.mark.slow
def test_onnx_matches_pytorch_on_real_whisper_tiny(shared_data, tmp_path):
    if not (WHISPER / "config.json").is_file():
        pytest.skip(f"{WHISPER} absent: the real whisper-tiny.en weights are needed")
    with open(shared_data / "ravdess" / "metadata.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["emotion"] in ("angry", "happy", "neutral", "sad")][::40][:8]
    paths = [str(shared_data / "ravdess" / r["file"]) for r in rows]
    classes = sorted({r["emotion"] for r in rows})
    y = np.array([classes.index(r["emotion"]) for r in rows])
    learner = EmbeddingLearner(extract_embeddings(str(WHISPER), paths, use_cache=False), HEAD, len(classes))
    learner.fit(np.arange(len(y)), y, np.arange(len(y)), y)
    save_bundle(tmp_path / "model", learner, classes, backbone=str(WHISPER), head_cfg=HEAD)
    assert main(["export", str(tmp_path / "model"), "--onnx", str(tmp_path / "m.onnx")]) == 0
    bundle = load_bundle(tmp_path / "model")
    emodb = sorted((shared_data / "emodb_crop2s" / "audio").rglob("*.*"))[0]
    waves = [load_audio(paths[0]), load_audio(emodb)]                  # two real clips of different lengths
    assert abs(len(waves[0]) - len(waves[1])) > 8000
    assert _onnx_vs_torch(bundle, tmp_path / "m.onnx", waves) <= 1e-4
    import onnx
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["classes"].split(",") == classes


def _fit_finetuned(kind, tmp_path):
    from after.training.finetune import FineTuneLearner
    waves, y = tones(6, seed=2)
    paths = []
    for i, w in enumerate(waves):
        sf.write(tmp_path / f"c{i}.wav", w, 16000)
        paths.append(str(tmp_path / f"c{i}.wav"))
    enc = make_tiny(kind, tmp_path / "enc")
    learner = FineTuneLearner(paths, enc, 2, ModelConfig(backbone=enc, freeze="none", pooling="attentive"), HEAD,
                              TrainConfig(max_epochs=1, batch_seconds=4.0, amp=False), seed=0)
    learner.fit(np.arange(4), y[:4], np.arange(4, 6), y[4:])
    save_bundle(tmp_path / "model", learner, ["high", "low"], backbone=enc, head_cfg=HEAD)
    return load_bundle(tmp_path / "model")


@pytest.mark.parametrize("kind", ["whisper", "wav2vec2"])
def test_onnx_matches_pytorch_finetuned_tiny(tmp_path, kind):
    bundle = _fit_finetuned(kind, tmp_path)
    export_onnx(bundle, tmp_path / "m.onnx", example_seconds=1.0)
    rng = np.random.default_rng(0)
    waves = [rng.normal(0, 0.1, n).astype(np.float32) for n in (9_000, 27_217)]   # dynamic length
    assert _onnx_vs_torch(bundle, tmp_path / "m.onnx", waves) <= 1e-4


def test_hand_crafted_features_refuse_export(tmp_path):
    waves, y = tones(4)
    learner = EmbeddingLearner(np.random.default_rng(0).normal(size=(4, 1, 160)).astype(np.float32), HEAD, 2)
    save_bundle(tmp_path / "model", learner, ["a", "b"], backbone="logmel", head_cfg=HEAD)
    with pytest.raises(ExportError, match="no ONNX form"):
        export_onnx(load_bundle(tmp_path / "model"), tmp_path / "m.onnx")
