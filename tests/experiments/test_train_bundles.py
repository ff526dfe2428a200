"""`after train` leaves a model bundle per fold and a final one in RUN/model/; they reproduce the run's figures."""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_train import corpus  # noqa: E402,F401  (the tones corpus fixture)

from after.backbones.embeddings import extract_embeddings  # noqa: E402
from after.cli import main  # noqa: E402
from after.data.audio import load_audio  # noqa: E402
from after.data.manifest import read_manifest  # noqa: E402
from after.training.bundle import load_bundle  # noqa: E402


def test_train_writes_fold_bundles_and_a_final_model(corpus, capsys):  # noqa: F811
    cfg = {"data": {"manifest": "manifest.csv", "folds": "folds.csv"}, "model": {"backbone": "logmel"},
           "head": {"hidden_dim": 16}, "seeds": [0], "cache_dir": "cache"}
    (corpus / "exp.yaml").write_text(yaml.safe_dump(cfg))
    run = corpus / "run"
    assert main(["train", str(corpus / "exp.yaml"), "-o", str(run)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert f"after predict {run / 'model'}" in printed        # the user is told where the model is and how to use it
    manifest = read_manifest(corpus / "manifest.csv")
    feats = extract_embeddings("logmel", [u.path for u in manifest], cache_dir=corpus / "cache")
    for k in (1, 2):
        record = json.loads((run / "folds" / f"fold{k}_seed0.json").read_text())
        bundle = load_bundle(run / "bundles" / f"fold{k}_seed0")
        assert bundle.metrics["ua"] == record["ua"] and bundle.classes == record["labels"]
        rows = manifest.index_of(record["test_ids"])
        with torch.no_grad():   # the same cached features: the fold's test probabilities exactly
            logits, _ = bundle.model.classify(torch.from_numpy(feats[rows]))
        np.testing.assert_allclose(torch.softmax(logits, -1).numpy(), record["proba"], atol=1e-6)
        # from the audio: float32 features against the float16 cache the fold was scored on (log-mel values
        # near -10 round by ~0.004 in float16; measured max difference 0.006 on this toy corpus)
        waves = [load_audio(manifest[i].path) for i in rows]
        np.testing.assert_allclose(bundle.predict_proba(waves), record["proba"], atol=2e-2)
    final = load_bundle(run / "model")
    epochs = sorted(json.loads((run / "folds" / f"fold{k}_seed0.json").read_text())["best_epoch"] for k in (1, 2))
    assert final.metrics["epochs"] == max(1, int(np.median(epochs)))
    assert final.metrics["n_train"] == len(manifest) and "ua_mean" in final.metrics
    assert final.provenance["manifest_hash"] and final.config["model"]["backbone"] == "logmel"
    waves = [load_audio(u.path) for u in manifest]
    acc = np.mean(np.array(final.classes)[final.predict_proba(waves).argmax(1)] == [u.emotion for u in manifest])
    assert acc > 0.9        # tones are trivially separable, and the final model saw every clip
