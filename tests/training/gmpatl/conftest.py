"""Fixtures: tiny random-init HuBERT / Whisper folders and a tiny labelled corpus."""
import pytest

from gmpatl_helpers import GENDERS, make_tiny, write_corpus


@pytest.fixture(scope="module", params=["hubert", "whisper"])
def tiny_dir(request, tmp_path_factory):
    return make_tiny(request.param, tmp_path_factory.mktemp(request.param) / "model")


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path, GENDERS)
