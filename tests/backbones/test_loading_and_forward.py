import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from after.backbones import MissingWeightsError, load_backbone
from after.training.config import HeadConfig, ModelConfig
from after.training.model import SERModel

from tiny_encoders import make_tiny, tones


def test_uniform_output_and_frame_mask(tiny_backbone_dir):
    kind, folder = tiny_backbone_dir
    bb = load_backbone(folder)
    assert bb.kind == kind
    waves = [np.zeros(8000, np.float32) + 0.01, np.random.default_rng(0).normal(size=16000).astype(np.float32)]
    out = bb(waves)
    L1, B, T, D = out.hidden_states.shape
    assert (L1, B, D) == (bb.num_hidden_states, 2, bb.hidden_size) == (3, 2, 32)
    assert out.mask.shape == (2, T) and out.mask.dtype == torch.bool
    frames = out.mask.sum(1).tolist()
    assert frames[1] == T and frames[0] < T          # the short clip's padding is masked out
    if kind == "whisper":
        assert T == 50 and frames[0] == 25           # 1 s -> 50 frames: not padded to 30 s (1500)
    else:
        assert frames[0] == bb.valid_frames(torch.tensor([8000])).item()


def test_fine_tuning_lowers_the_loss(tiny_backbone_dir):
    kind, folder = tiny_backbone_dir
    torch.manual_seed(0)
    model = SERModel(load_backbone(folder), 2, ModelConfig(backbone=folder, freeze="none"),
                     HeadConfig(hidden_dim=16, dropout=0.0))
    waves, y = tones(8)
    target = torch.as_tensor(y)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    losses = []
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(model(waves), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("kind", ["wav2vec2", "whisper"])
def test_freeze_policies(tmp_path, kind):
    folder = make_tiny(kind, tmp_path / kind)

    def trainable(policy, n=0):
        m = SERModel(load_backbone(folder), 2, ModelConfig(freeze=policy, freeze_first_n=n), HeadConfig())
        bb = m.backbone
        fe = [p.requires_grad for mod in bb.feature_encoder() for p in mod.parameters()]
        layers = [all(p.requires_grad for p in layer.parameters()) for layer in bb.layers()]
        head = all(p.requires_grad for mod in m.head_modules() for p in mod.parameters())
        return any(fe), layers, head

    assert trainable("none") == (True, [True, True], True)
    assert trainable("feature_encoder") == (False, [True, True], True)
    assert trainable("first_n", 1) == (False, [False, True], True)
    assert trainable("encoder") == (False, [False, False], True)
    with pytest.raises(ValueError, match="freeze_first_n"):
        trainable("first_n", 5)


@pytest.mark.parametrize("kind,drop", [("wav2vec2", "encoder.layers.0.attention.k_proj.weight"),
                                       ("hubert", "feature_extractor.conv_layers.0.conv.weight"),
                                       ("whisper", "encoder.layers.1.fc1.weight")])
def test_missing_encoder_tensor_fails_loudly(tmp_path, kind, drop):
    folder = make_tiny(kind, tmp_path / kind)
    load_backbone(folder)  # intact: loads
    state = load_file(f"{folder}/model.safetensors")
    assert drop in state
    del state[drop]
    save_file(state, f"{folder}/model.safetensors", metadata={"format": "pt"})
    with pytest.raises(MissingWeightsError, match="missing"):
        load_backbone(folder)


def test_whisper_decoder_absence_is_fine_and_encoder_only_checkpoint_loads(tmp_path):
    folder = make_tiny("whisper", tmp_path / "w")
    state = load_file(f"{folder}/model.safetensors")
    save_file({k: v for k, v in state.items() if k.startswith("encoder.")}, f"{folder}/model.safetensors",
              metadata={"format": "pt"})
    bb = load_backbone(folder)
    assert torch.equal(bb.encoder.layers[0].fc1.weight, state["encoder.layers.0.fc1.weight"])


def test_whisper_save_restores_full_position_table(tmp_path):
    bb = load_backbone(make_tiny("whisper", tmp_path / "w"))
    bb([np.zeros(16000, np.float32)])                 # crops the table to 50 positions
    assert bb.encoder.embed_positions.weight.shape[0] == 50
    bb.save_pretrained(str(tmp_path / "saved"))
    again = load_backbone(str(tmp_path / "saved"))
    assert again.encoder.embed_positions.weight.shape[0] == 1500
    assert again.encoder.config.max_source_positions == 1500
    torch.testing.assert_close(again.encoder.embed_positions.weight, bb._full_pos)
    torch.testing.assert_close(again.encoder.layers[1].fc2.weight, bb.encoder.layers[1].fc2.weight)


def test_unknown_backbone_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="local model folder"):
        load_backbone(str(tmp_path / "nope-not-a-model"))


@pytest.mark.parametrize("kind", ["whisper", "wav2vec2"])
def test_saving_draws_no_transformers_progress_bar_and_restores_the_setting(tmp_path, capfd, kind):
    from transformers.utils import logging as hf_logging
    bb = load_backbone(make_tiny(kind, tmp_path / "m"))
    hf_logging.enable_progress_bar()
    capfd.readouterr()
    bb.save_pretrained(str(tmp_path / "saved"))
    out, err = capfd.readouterr()
    assert "Writing model shards" not in out + err      # the bar broke the demo's own progress output
    assert hf_logging.is_progress_bar_enabled()          # the user's setting is left as it was
    hf_logging.disable_progress_bar()
    bb.save_pretrained(str(tmp_path / "saved2"))
    assert not hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()
