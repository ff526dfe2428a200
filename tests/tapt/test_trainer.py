"""The trainer resumes Whisper (whose position table is cropped per batch) onto the uninterrupted path."""
from __future__ import annotations

import torch

from after.backbones import load_backbone
from after.tapt.config import ObjectiveConfig, OptimConfig, TaptConfig
from after.tapt.model import TaptModel
from after.tapt.pool import read_audio_list
from after.tapt.trainer import TaptTrainer
from conftest import write_corpus


def trainer(tiny_dirs, clips, cfg, run_dir) -> TaptTrainer:
    torch.manual_seed(cfg.seed)
    return TaptTrainer(TaptModel(load_backbone(tiny_dirs["whisper"]), cfg), clips, cfg, run_dir,
                       torch.device("cpu"), data_hash="h")


def test_whisper_checkpoint_resume_equals_the_uninterrupted_run(tmp_path, tiny_dirs):
    manifest, _ = write_corpus(tmp_path / "corpus")
    clips = read_audio_list(manifest)
    cfg = TaptConfig(steps=4, batch_seconds=2.0, checkpoint_every=2, seed=5,
                     objective=ObjectiveConfig(distillation=1.0), optim=OptimConfig(lr=1e-3, warmup_steps=1))
    (tmp_path / "ref").mkdir()
    ref = trainer(tiny_dirs, clips, cfg, tmp_path / "ref")
    ref.run()
    (tmp_path / "cut").mkdir()
    first = trainer(tiny_dirs, clips, cfg, tmp_path / "cut")
    for _ in range(2):                              # the same run, stopped after its checkpoint of step 2
        first.train_step(first.step)
        first.step += 1
    first.save_checkpoint()
    resumed = trainer(tiny_dirs, clips, cfg, tmp_path / "cut")
    resumed.run()
    assert resumed.step == 4
    a = ref.model.full_position_tables().state_dict()
    b = resumed.model.full_position_tables().state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
