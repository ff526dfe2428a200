"""Fixtures: every supported architecture as a tiny random-init checkpoint folder."""
import pytest

from tiny_encoders import make_tiny


@pytest.fixture(params=["wav2vec2", "hubert", "wavlm", "data2vec-audio", "whisper"])
def tiny_backbone_dir(request, tmp_path):
    return request.param, make_tiny(request.param, tmp_path / request.param)
