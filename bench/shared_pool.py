"""The 4-class pool the active-learning benchmarks share: angry/happy/neutral/sad merged from the corpora
in ../shared/data (RAVDESS, EmoDB-2s, nEMO, TurEV-DB; 3211 clips)."""
from __future__ import annotations

from pathlib import Path

from after.data.manifest import Manifest
from after.data.sources import DataConfig, load_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = (("ravdess", "ravdess"), ("emodb", "emodb_crop2s"), ("nemo", "nemo"), ("turev", "turev_db"))


def merged_pool(work_dir: Path) -> Manifest:
    """The merged, 4-class manifest (prepared once into ``work_dir``); exits with the reason if data is absent."""
    if not (SHARED / "data").is_dir():
        raise SystemExit(f"skipped: {SHARED / 'data'} not found (the shared corpora are needed)")
    corpora = tuple(f"{name}={SHARED / 'data' / folder}" for name, folder in CORPORA)
    manifest, _ = load_dataset(DataConfig(corpora=corpora, labels="4class", n_folds=4), None, work_dir)
    return manifest


def embeddings(manifest: Manifest):
    """``([N, 7, 512] every whisper-base layer mean-pooled, [N, 512] the convolutional front end before
    positions)`` of the manifest's clips, cached in ~/.cache/after (genuine weights in ../shared/models)."""
    from after.backbones.embeddings import extract_embeddings
    paths = [u.path for u in manifest]
    model = str(SHARED / "models" / "whisper-base")
    return extract_embeddings(model, paths), extract_embeddings(model, paths, features="frontend")[:, 0]


def run_loop(feats, front, y, classes, n_pool: int, val_rows, test_rows, pool_ids, *, init: str,
             strategy: str, layer: int, seed: int, schedule, strata=None, norm=None, count_by=None,
             strategy_args=None, mc_samples: int = 20) -> dict:
    """One Algorithm-1 run (``ActiveLearningLoop``, the code of ``after al``) on rows ``0..n_pool-1`` of
    ``feats`` as the pool; the learner standardises with the pool's statistics (``norm``: rows, default the
    pool). Returns the learning curve, its AULC and the seconds taken."""
    import tempfile
    import time

    import numpy as np

    from after.al.loop import ActiveLearningLoop, LoopConfig, LoopData
    from after.al.oracles import SimulatedOracle
    from after.al.pool import LabelPool
    from after.al.records import aulc
    from after.training.config import HeadConfig
    from after.training.learners import EmbeddingLearner

    t1 = time.perf_counter()
    norm = np.arange(n_pool) if norm is None else norm
    cold = front[:n_pool] if layer == 0 else feats[:n_pool, layer]
    data = LoopData(pool_rows=np.arange(n_pool), init_features=cold, val_rows=val_rows, y_val=y[val_rows],
                    test_rows=test_rows, y_test=y[test_rows], classes=classes, strata=strata)
    cfg = LoopConfig(strategy=strategy, init=init, init_fraction=0.01, schedule=tuple(schedule), seed=seed,
                     strategy_args=dict(strategy_args or {}), mc_samples=mc_samples)
    with tempfile.TemporaryDirectory() as tmp:
        pool = LabelPool(pool_ids, SimulatedOracle({i: classes[y[j]] for j, i in enumerate(pool_ids)}))
        learner = EmbeddingLearner(feats, HeadConfig(), len(classes), seed=seed, norm_idx=norm)
        records = ActiveLearningLoop(learner, pool, data, cfg, tmp).run()
    frac = [r["fraction"] for r in records]
    ua = [r["test_ua"] for r in records]
    return {"seed": seed, "fractions": frac, "test_ua": ua, "aulc": aulc(frac, ua), "n_pool": n_pool,
            "n_val": len(val_rows), "seconds": time.perf_counter() - t1,
            "round_seconds": [r["seconds"] for r in records]} | ({} if count_by is None else {
                "labelled_by": _cumulative_counts(records, dict(zip(pool_ids, count_by)))})


def _cumulative_counts(records, group_of: dict) -> list[dict]:
    """The labelled set's clips per group after each round, from the rounds' ``selected`` ids."""
    from collections import Counter
    seen, out = Counter(), []
    for r in records:
        seen.update(group_of[i] for i in r["selected"])
        out.append(dict(sorted(seen.items())))
    return out
