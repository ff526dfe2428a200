"""Segments of one recording: each its own embedding (and cache entry), equal to embedding the cut audio."""
import numpy as np
import soundfile as sf

from after.backbones import extract_embeddings, load_backbone
from after.data.manifest import Utterance

from tiny_encoders import make_tiny


def _recording(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    parts = [0.3 * np.sin(2 * np.pi * 220 * t), 0.05 * rng.standard_normal(8000),
             0.3 * np.sign(np.sin(2 * np.pi * 530 * t[:12000]))]
    wave = np.concatenate(parts).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, wave, 16000, subtype="FLOAT")
    return path, wave


def _row(path, start, end):
    return Utterance(id=f"seg{start}", path=str(path), corpus="pool", speaker="r", gender="unknown", emotion="",
                     original_label="", language="", duration_s=end - start, start_s=start, end_s=end)


def test_two_segments_of_one_recording_get_their_own_embeddings(tmp_path):
    path, wave = _recording(tmp_path)
    bb = load_backbone(make_tiny("wav2vec2", tmp_path / "w"))
    cache = tmp_path / "cache"
    spans = [(0.0, 1.0), (1.5, 2.25)]
    # the cut audio as files of their own: what each segment must equal
    cuts = []
    for k, (a, b) in enumerate(spans):
        cut = tmp_path / f"cut{k}.wav"
        sf.write(cut, wave[int(a * 16000):int(b * 16000)], 16000, subtype="FLOAT")
        cuts.append(str(cut))
    expect = extract_embeddings(bb, cuts, use_cache=False, batch_seconds=1.0)

    rows = [_row(path, a, b) for a, b in spans]
    got = extract_embeddings(bb, rows, cache_dir=cache, batch_seconds=1.0)
    assert not np.allclose(got[0], got[1], atol=1e-3)
    np.testing.assert_allclose(got, expect, rtol=2e-3, atol=2e-3)     # cache stores float16
    assert len(list(cache.rglob("*.npy"))) == 2                       # one entry per segment, not per file

    # (path, start, end) items are the same clips: read back from the cache
    again = extract_embeddings(bb, [(str(path), a, b) for a, b in spans], cache_dir=cache)
    np.testing.assert_array_equal(again, got)
    whole = extract_embeddings(bb, [str(path)], cache_dir=cache)
    assert len(list(cache.rglob("*.npy"))) == 3 and not np.allclose(whole[0], got[0], atol=1e-3)


def test_finetune_learner_reads_segment_rows_as_their_span(tmp_path):
    from after.data.audio import load_audio
    from after.training.config import ModelConfig, TrainConfig
    from after.training.finetune import FineTuneLearner
    path, wave = _recording(tmp_path)
    rows = [_row(path, 0.0, 1.0), _row(path, 1.5, 2.25)]
    learner = FineTuneLearner(rows, make_tiny("wav2vec2", tmp_path / "w"), 2, model_cfg=ModelConfig(freeze="none"),
                              train_cfg=TrainConfig(max_clip_s=10.0))
    np.testing.assert_allclose(learner.durations_s, [1.0, 0.75])        # from the rows, not the file's 3.5 s
    for i, (a, b) in enumerate([(0.0, 1.0), (1.5, 2.25)]):
        np.testing.assert_array_equal(learner.load(i), load_audio(path, start_s=a, end_s=b))
        np.testing.assert_allclose(learner.load(i), wave[int(a * 16000):int(b * 16000)], atol=1e-6)
