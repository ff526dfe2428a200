"""`after train` end to end on a tiny synthetic corpus (tones), frozen and fine-tuning paths."""
import json
from dataclasses import replace
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backbones"))
from tiny_encoders import make_tiny, tones  # noqa: E402

from after.cli import main  # noqa: E402
from after.data.folds import Fold, write_folds  # noqa: E402
from after.data.sources import DataConfig  # noqa: E402
from after.data.manifest import Utterance, write_manifest  # noqa: E402
from after.training.config import HeadConfig, ModelConfig, TrainConfig  # noqa: E402
from after.training.finetune import FineTuneLearner  # noqa: E402
from after.training.learners import Learner  # noqa: E402


@pytest.fixture
def corpus(tmp_path):
    """4 speakers x 8 clips, emotion 'low'/'high' = a 220 / 1760 Hz tone; 2 speaker-disjoint folds."""
    waves, y = tones(32, seed=1)
    utts = []
    for i, (w, label) in enumerate(zip(waves, y)):
        p = tmp_path / "audio" / f"u{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, w, 16000)
        utts.append(Utterance(id=f"u{i}", path=str(p), corpus="toy", speaker=f"s{i % 4}", gender="f",
                              emotion=["low", "high"][label], original_label=str(label), language="en",
                              duration_s=len(w) / 16000))
    write_manifest(utts, tmp_path / "manifest.csv")
    spk = {u.id: u.speaker for u in utts}
    folds = []
    for k, (test, val) in enumerate([({"s0"}, {"s1"}), ({"s2"}, {"s3"})], start=1):
        split = {i: "test" if s in test else "val" if s in val else "train" for i, s in spk.items()}
        folds.append(Fold(k, *(tuple(i for i in spk if split[i] == name) for name in ("train", "val", "test"))))
    write_folds(folds, tmp_path / "folds.csv")
    return tmp_path


def test_after_train_frozen_logmel(corpus, capsys):
    cfg = {"data": {"manifest": "manifest.csv", "folds": "folds.csv"}, "model": {"backbone": "logmel"},
           "head": {"hidden_dim": 16}, "seeds": [0, 1], "cache_dir": "cache"}
    (corpus / "exp.yaml").write_text(yaml.safe_dump(cfg))
    rc = main(["train", str(corpus / "exp.yaml"), "-o", str(corpus / "run"), "--set", "head.dropout=0.1"])
    assert rc == 0
    run = corpus / "run"
    m = json.loads((run / "metrics.json").read_text())
    assert {"ua_mean", "ua_std", "wa_mean", "wa_std", "f1_mean"} <= set(m)
    assert len(m["folds"]) == 4 and {"ua", "wa", "f1", "seed", "fold"} <= set(m["folds"][0])
    assert m["ua_mean"] > 0.9                       # tones are trivially separable
    assert m["labels"] == ["high", "low"] and m["path"] == "frozen-embeddings"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["head"]["dropout"] == 0.1 and Path(saved["data"]["manifest"]).is_absolute()
    assert (run / "confusion.png").stat().st_size > 0
    preds = (run / "predictions.csv").read_text().splitlines()
    assert preds[0] == "id,fold,seed,true,pred,p_high,p_low" and len(preds) == 1 + 2 * 16
    assert len(list((run / "folds").glob("*.json"))) == 4
    assert "run directory" in capsys.readouterr().out


def test_a_stopped_run_resumes_from_its_finished_folds(corpus):
    cfg = {"data": {"manifest": "manifest.csv", "folds": "folds.csv"}, "model": {"backbone": "logmel"},
           "head": {"hidden_dim": 16}, "seeds": [0], "cache_dir": "cache"}
    (corpus / "exp.yaml").write_text(yaml.safe_dump(cfg))
    run = corpus / "run_resume"
    assert main(["train", str(corpus / "exp.yaml"), "-o", str(run)]) == 0
    first = json.loads((run / "metrics.json").read_text())
    preds = (run / "predictions.csv").read_text()
    kept, lost = sorted((run / "folds").glob("*.json"))[:2]
    kept_text = kept.read_text()
    lost.unlink()                                   # as if killed while training that fold
    (run / "metrics.json").unlink()
    assert main(["train", str(corpus / "exp.yaml"), "-o", str(run)]) == 0
    assert kept.read_text() == kept_text and lost.is_file()
    again = json.loads((run / "metrics.json").read_text())
    def no_time(folds):
        return [{k: v for k, v in f.items() if k != "seconds"} for f in folds]
    assert again["folds"][0] == first["folds"][0]                 # reused as is, its timing included
    assert no_time(again["folds"]) == no_time(first["folds"])     # the retrained fold comes out the same
    assert (run / "predictions.csv").read_text() == preds
    # another config in the same run directory is refused, naming what to do
    assert main(["train", str(corpus / "exp.yaml"), "-o", str(run), "--set", "head.dropout=0.4"]) == 2


def test_refit_trains_on_train_and_val_for_the_early_stopped_epochs(corpus):
    from after.experiments.train import ExperimentConfig, run_experiment
    cfg = ExperimentConfig(data=DataConfig(manifest=str(corpus / "manifest.csv"), folds=str(corpus / "folds.csv")),
                           model=ModelConfig(backbone="logmel"), head=HeadConfig(hidden_dim=16, patience=5),
                           cache_dir=str(corpus / "cache"), refit=True)
    m = run_experiment(cfg, corpus / "run_refit")
    for fold in m["folds"]:
        # the fresh head runs exactly as many epochs as early stopping kept on the validation speakers
        assert fold["refit_epochs"] == max(1, fold["best_epoch"])
    assert m["ua_mean"] > 0.9


def test_labels_map_renames_and_drops(corpus):
    from after.experiments.train import ExperimentConfig, run_experiment
    data = DataConfig(manifest=str(corpus / "manifest.csv"), folds=str(corpus / "folds.csv"),
                      labels={"low": "calm", "high": "excited"})
    cfg = ExperimentConfig(data=data, model=ModelConfig(backbone="logmel"), cache_dir=str(corpus / "cache"),
                           max_folds=1)
    assert run_experiment(cfg, corpus / "run_map")["labels"] == ["calm", "excited"]
    one = ExperimentConfig(**{**cfg.__dict__, "data": replace(data, labels={"low": "calm", "high": ""})})
    with pytest.raises(ValueError, match="at least 2"):
        run_experiment(one, corpus / "run_one")


def test_fine_tune_learner_contract_and_experiment(corpus, tmp_path):
    folder = make_tiny("wav2vec2", tmp_path / "w2v")
    paths = sorted((corpus / "audio").glob("*.wav"), key=lambda p: int(p.stem[1:]))
    _, y = tones(32, seed=1)
    learner = FineTuneLearner([str(p) for p in paths], folder, 2, ModelConfig(freeze="none"),
                              HeadConfig(hidden_dim=16), TrainConfig(max_epochs=3, batch_seconds=4.0, lr=1e-3),
                              seed=0)
    assert isinstance(learner, Learner)
    tr, va, te = np.arange(0, 16), np.arange(16, 24), np.arange(24, 32)
    p0 = learner.predict_proba(te)
    out = learner.fit(tr, y[tr], va, np.eye(2)[y[va]])          # soft validation labels are fine too
    assert out["epochs"] >= 1 and np.isfinite(out["best_val_loss"])
    p = learner.predict_proba(te)
    assert p.shape == (8, 2) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert learner.predict_mc(te, 3, seed=0).shape == (8, 2, 3)
    assert learner.embed(te).shape == (8, 16) and learner.grad_embed(te).shape == (8, 32)
    learner.reset()
    np.testing.assert_allclose(learner.predict_proba(te), p0, atol=1e-5)

    from after.experiments.train import ExperimentConfig, run_experiment
    cfg = ExperimentConfig(data=DataConfig(manifest=str(corpus / "manifest.csv"), folds=str(corpus / "folds.csv")),
                           model=ModelConfig(backbone=folder, freeze="feature_encoder"),
                           head=HeadConfig(hidden_dim=8), train=TrainConfig(max_epochs=1, batch_seconds=8.0),
                           max_folds=1)
    m = run_experiment(cfg, tmp_path / "ft_run")
    assert m["path"] == "fine-tune" and len(m["folds"]) == 1
    ckpt = tmp_path / "ft_run" / "bundles" / "fold1_seed0"
    assert (ckpt / "encoder" / "config.json").is_file() and (ckpt / "head.safetensors").is_file()
    from after.backbones import load_backbone
    load_backbone(str(ckpt / "encoder"))             # the saved encoder loads through the checked path
    from after.training.bundle import load_bundle
    final = load_bundle(tmp_path / "ft_run" / "model")  # the final model: fine-tuned on every labelled clip
    assert final.kind == "finetuned" and final.metrics["n_train"] == 32
