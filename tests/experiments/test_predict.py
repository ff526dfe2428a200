"""`after predict`: files, folders, manifests and segments in; one row per clip out; bad files skipped."""
import csv
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
from tiny_encoders import make_tiny, write_tones  # noqa: E402

from after.backbones.embeddings import extract_embeddings  # noqa: E402
from after.data.audio import load_audio  # noqa: E402
from after.cli import main  # noqa: E402
from after.data.audio import load_audio  # noqa: E402
from after.experiments.predict import Clip, bucketed_batches, collect_clips, predict_clips  # noqa: E402
from after.training.bundle import load_bundle, save_bundle  # noqa: E402
from after.training.config import HeadConfig  # noqa: E402
from after.training.learners import EmbeddingLearner  # noqa: E402

CLASSES = ["high", "low"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Tone clips on disk and a frozen tiny-Whisper bundle trained on them."""
    root = tmp_path_factory.mktemp("predict")
    paths, y = write_tones(root, 12, seed=5)
    enc = make_tiny("whisper", root / "enc")
    feats = extract_embeddings(enc, paths, use_cache=False)
    head = HeadConfig(hidden_dim=16, max_epochs=30, patience=10)
    learner = EmbeddingLearner(feats, head, 2, seed=0)
    learner.fit(np.arange(12), 1 - y, np.arange(12), 1 - y)         # class 0 = high (1760 Hz), 1 = low
    save_bundle(root / "model", learner, CLASSES, backbone=enc, head_cfg=head)
    return root, paths, y


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_predict_folder_skips_a_bad_file_and_names_it(setup, tmp_path, capsys):
    root, paths, y = setup
    folder = tmp_path / "in"
    folder.mkdir()
    for p in paths[:5]:
        (folder / Path(p).name).write_bytes(Path(p).read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF not really audio")
    out = tmp_path / "p.csv"
    assert main(["predict", str(root / "model"), str(folder), "-o", str(out), "--embeddings",
                 str(tmp_path / "e.npy")]) == 0
    rows = _read(out)
    assert list(rows[0]) == ["id", "path", "start_s", "end_s", "label", "confidence", "p_high", "p_low"]
    assert [r["id"] for r in rows] == [Path(p).stem for p in paths[:5]]        # input order, bad file left out
    for r, p in zip(rows, paths):
        assert float(r["start_s"]) == 0 and abs(float(r["end_s"]) - sf.info(p).duration) < 1e-3
        probs = [float(r["p_high"]), float(r["p_low"])]
        assert abs(sum(probs) - 1) < 1e-4 and r["label"] == CLASSES[int(np.argmax(probs))]
        assert float(r["confidence"]) == max(probs)
    assert np.load(tmp_path / "e.npy").shape == (5, 16)
    printed = capsys.readouterr().out
    assert "skipped 1 file" in printed and "broken.wav" in printed


def test_predict_manifest_with_labels_prints_ua_wa_and_confusion(setup, tmp_path, capsys):
    root, paths, y = setup
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "path", "emotion"])
        for i, (p, lab) in enumerate(zip(paths, y)):
            w.writerow([f"u{i}", p, ["low", "high"][lab]])
    out = tmp_path / "p.csv"
    assert main(["predict", str(root / "model"), str(manifest), "-o", str(out)]) == 0
    rows = _read(out)
    pred = np.array([r["label"] for r in rows])
    truth = np.array([["low", "high"][lab] for lab in y])
    ua = np.mean([np.mean(pred[truth == c] == c) for c in CLASSES])
    printed = capsys.readouterr().out
    assert f"UA {ua:.3f}" in printed and f"WA {np.mean(pred == truth):.3f}" in printed
    assert "confusion" in printed


def test_unknown_input_is_a_clear_error(setup, tmp_path, capsys):
    root, _, _ = setup
    assert main(["predict", str(root / "model"), str(tmp_path / "nothing.wav"), "-o", str(tmp_path / "p.csv")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_segment_without_the_segments_module_says_so(setup, tmp_path, monkeypatch, capsys):
    root, paths, _ = setup
    monkeypatch.setitem(sys.modules, "after.data.segments", None)      # as on a build without it
    assert main(["predict", str(root / "model"), paths[0], "-o", str(tmp_path / "p.csv"), "--segment", "vad"]) == 2
    assert "needs after.data.segments" in capsys.readouterr().err


def test_segments_of_a_long_recording_are_read_as_spans(setup, tmp_path, monkeypatch):
    """Two known clips joined by a pause; the segmenter's spans are read from the file, nothing else."""
    root, paths, _ = setup
    a, b = load_audio(paths[0]), load_audio(paths[1])
    rec = tmp_path / "long.wav"
    sf.write(rec, np.concatenate([a, np.zeros(8000, np.float32), b]), 16000, subtype="FLOAT")
    spans = [(0.0, len(a) / 16000), ((len(a) + 8000) / 16000, (len(a) + 8000 + len(b)) / 16000)]
    seg = types.SimpleNamespace(segment_recording=lambda path, mode: [types.SimpleNamespace(start_s=s, end_s=e)
                                                                      for s, e in spans])
    monkeypatch.setitem(sys.modules, "after.data.segments", seg)
    clips, skipped = collect_clips([rec], segment="vad")
    assert not skipped and [(c.start_s, c.end_s) for c in clips] == spans and clips[0].id == "long_0000"
    bundle = load_bundle(root / "model")
    preds = predict_clips(bundle, clips, batch_seconds=1e-3)
    np.testing.assert_allclose(preds.proba, np.concatenate([bundle.predict_proba([a]), bundle.predict_proba([b])]),
                               atol=1e-6)


def test_bucketed_batches_bound_the_padding():
    d = np.array([1.0, 5.0, 1.2, 4.5, 0.5, 9.0, 1.9])
    batches = bucketed_batches(d, batch_seconds=100.0, bucket_s=1.0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(d)))
    assert all(d[b].max() - d[b].min() <= 1.0 for b in batches)
    assert all(len(b) * d[b].max() <= 100.0 or len(b) == 1 for b in bucketed_batches(d, 6.0, 10.0))


def test_batched_equals_one_clip_at_a_time_tiny_whisper(setup):
    """Whisper has no attention mask: a padded clip's frames would attend to its padding (up to 0.03 of
    probability with 1 s buckets on 0.4-1.0 s clips before batches were split by ``batch_key``). Batches
    now hold clips of one frame count, and ``Bundle.predict`` splits a mixed batch, so each clip gets the
    probabilities it gets alone."""
    root, paths, _ = setup
    bundle = load_bundle(root / "model")
    clips = [Clip(Path(p).stem, p, 0.0, sf.info(p).duration) for p in paths]
    single = predict_clips(bundle, clips, batch_seconds=1e-3).proba
    batched = predict_clips(bundle, clips, batch_seconds=60.0, bucket_s=1.0).proba
    np.testing.assert_allclose(batched, single, atol=1e-5)
    waves = [load_audio(p) for p in paths]
    np.testing.assert_allclose(bundle.predict_proba(waves), single, atol=1e-5)     # one mixed batch
    same = [Clip(f"c{i}", paths[0], 0.0, sf.info(paths[0]).duration) for i in range(3)]
    np.testing.assert_allclose(predict_clips(bundle, same, batch_seconds=60.0).proba,
                               np.repeat(single[:1], 3, 0), atol=1e-6)


def test_predict_segment_vad_on_a_long_recording_with_the_real_detector(setup, tmp_path, shared_data):
    """`after predict --segment vad` through after.data.segments (Silero VAD): six RAVDESS clips joined with
    pauses give six rows, each boundary within 0.25 s of the truth, each row's probabilities those of its
    span read on its own (spans are read by after.data.audio.load_audio, the one reader)."""
    from tests.data.test_segments import _joined_recording
    root, _, _ = setup
    rec = tmp_path / "long.flac"
    truth = _joined_recording(shared_data, 0, rec)
    out = tmp_path / "p.csv"
    assert main(["predict", str(root / "model"), str(rec), "--segment", "vad", "-o", str(out),
                 "--batch-seconds", "0.001"]) == 0
    rows = _read(out)
    assert len(rows) == len(truth) == 6
    for r, (start, end) in zip(rows, truth):
        assert abs(float(r["start_s"]) - start) <= 0.25 and abs(float(r["end_s"]) - end) <= 0.25
    bundle = load_bundle(root / "model")
    alone = np.concatenate([bundle.predict_proba([load_audio(rec, start_s=float(r["start_s"]), end_s=float(r["end_s"]))])
                            for r in rows])
    got = np.array([[float(r[f"p_{c}"]) for c in CLASSES] for r in rows])
    np.testing.assert_allclose(got, alone, atol=2e-5)       # the CSV keeps 5 decimals; boundaries rounded to ms
