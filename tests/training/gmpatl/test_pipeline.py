"""`after gmpatl` end to end on a tiny manifest: metrics and model written, k-means never reads a val/test
clip, pseudo-TAPT needs no gender, and a rerun reuses every finished stage."""
import json

import numpy as np
import pytest

from gmpatl_helpers import tiny_config, write_corpus
from after.cli import main
from after.data.folds import read_folds
from after.training.gmpatl import pseudolabels, stages


@pytest.fixture
def spy(monkeypatch):
    """Records every clip row that stage 2 reads to make the frames it clusters."""
    read_rows: list[int] = []
    real = pseudolabels.training_frames

    def spying(model, read, rows, *args, **kwargs):
        def recording(i):
            read_rows.append(int(i))
            return read(i)
        return real(model, recording, rows, *args, **kwargs)

    monkeypatch.setattr(pseudolabels, "training_frames", spying)
    return read_rows


def _ids_of_rows(corpus, rows):
    import csv
    with open(corpus / "manifest.csv") as fh:
        ids = [r["id"] for r in csv.DictReader(fh)]
    return {ids[i] for i in rows}


def test_end_to_end_writes_model_and_metrics_and_clusters_training_clips_only(corpus, tiny_dir, spy):
    cfg = tiny_config(corpus, tiny_dir)
    run = corpus / "run"
    assert main(["gmpatl", str(cfg), "-o", str(run)]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert {"ua", "wa", "f1", "timings", "labels"} <= set(m) and m["n_test"] == 4 and m["method"] == "gmp-atl"
    assert set(m["timings"]) >= {"1_multitask_s", "2_pseudo_labels_s", "3_retrain_s", "4_finetune_s"}
    assert (run / "model" / "encoder" / "config.json").is_file() and (run / "model" / "bundle.json").is_file()
    assert "labels" in (run / "model" / "config.yaml").read_text()
    fold = read_folds(corpus / "folds.csv")[0]
    read_ids = _ids_of_rows(corpus, spy)
    assert read_ids == set(fold.train)                     # every training clip, ...
    assert not read_ids & (set(fold.val) | set(fold.test))  # ... and no validation or test clip
    ids = np.load(run / "stages" / "2_pseudo_labels" / "frame_ids.npz")
    assert ids["ids"].shape[0] == 2 and ids["ids"][1].max() < 8


def test_pseudo_tapt_runs_without_any_gender(tmp_path, tiny_dir, spy):
    corpus = write_corpus(tmp_path, {f"s{i}": "unknown" for i in range(6)})
    cfg = tiny_config(corpus, tiny_dir, gender_weight=0.0, emotion_loss={"loss": "cross_entropy"})
    assert main(["gmpatl", str(cfg), "-o", str(tmp_path / "run")]) == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["method"] == "pseudo-tapt" and 0.0 <= m["ua"] <= 1.0


def test_gender_task_without_known_gender_is_refused(tmp_path, tiny_dir, capsys):
    corpus = write_corpus(tmp_path, {f"s{i}": "unknown" for i in range(6)})
    assert main(["gmpatl", str(tiny_config(corpus, tiny_dir)), "-o", str(tmp_path / "run")]) == 2
    assert "gender_weight: 0" in capsys.readouterr().err


def test_rerun_reuses_finished_stages(corpus, tiny_dir, monkeypatch):
    cfg = tiny_config(corpus, tiny_dir)
    run = corpus / "run"
    assert main(["gmpatl", str(cfg), "-o", str(run)]) == 0
    first = json.loads((run / "metrics.json").read_text())
    state = run / "stages" / "3_retrain" / "state.safetensors"
    before = state.read_bytes()

    def never(*a, **k):
        raise AssertionError("a finished stage was recomputed")
    for name in ("multitask", "retrain", "finetune"):
        monkeypatch.setattr(stages, name, never)
    monkeypatch.setattr(pseudolabels, "training_frames", never)
    assert main(["gmpatl", str(cfg), "-o", str(run)]) == 0
    second = json.loads((run / "metrics.json").read_text())
    assert all(s["reused"] for s in second["stages"].values())
    assert second["ua"] == first["ua"] and second["confusion"] == first["confusion"]
    assert state.read_bytes() == before


def test_saved_model_reloads_and_predicts_what_the_run_reported(corpus, tiny_dir):
    import csv

    import torch

    from after.data.audio import load_audio
    from after.training.bundle import load_bundle
    run = corpus / "run"
    # one clip per test batch: Whisper has no attention mask, so padding partners change a clip's output
    assert main(["gmpatl", str(tiny_config(corpus, tiny_dir)), "-o", str(run),
                 "--set", "finetune.embed_batch_seconds=0.5"]) == 0
    bundle = load_bundle(run / "model")
    assert bundle.kind == "finetuned" and bundle.meta["head_out"]["kind"] == "cosine"
    with open(run / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    paths = {r["id"]: r["path"] for r in csv.DictReader(open(corpus / "manifest.csv"))}
    labels = json.loads((run / "metrics.json").read_text())["labels"]
    with torch.no_grad():
        for r in rows:
            p = bundle.predict_proba([load_audio(corpus / paths[r["id"]], max_duration_s=6.0)])[0]
            assert np.allclose(p, [float(r[f"p_{c}"]) for c in labels], atol=2e-4)


def test_a_run_with_finished_stages_refuses_another_config(corpus, tiny_dir, capsys):
    cfg = tiny_config(corpus, tiny_dir)
    run = corpus / "run"
    assert main(["gmpatl", str(cfg), "-o", str(run)]) == 0
    before = (run / "metrics.json").read_bytes()
    assert main(["gmpatl", str(cfg), "-o", str(run), "--set", "retrain.mask_span=4"]) == 2
    assert "retrain.mask_span (3 -> 4)" in capsys.readouterr().err
    assert (run / "metrics.json").read_bytes() == before
