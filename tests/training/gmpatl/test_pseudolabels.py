"""Stage 2's k-means ids are a function of the seed; span masks stay inside each clip."""
import numpy as np

from after.training.gmpatl.config import PseudoLabelConfig
from after.training.gmpatl.masking import span_mask
from after.training.gmpatl.pseudolabels import fit_codebooks, frame_ids


def _frames(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(n), 6)).astype(np.float32) + (i % 3) for i, n in enumerate(rng.integers(5, 40, 20))]


def test_kmeans_ids_are_deterministic_per_seed():
    frames = _frames()
    cfg = PseudoLabelConfig(n_clusters=(3, 7), max_frames=300, batch_size=64)
    a = frame_ids(frames, fit_codebooks(frames, cfg, seed=5))
    b = frame_ids(frames, fit_codebooks(frames, cfg, seed=5))
    c = frame_ids(frames, fit_codebooks(frames, cfg, seed=6))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert [x.shape for x in a] == [(2, len(f)) for f in frames]
    assert a[0][0].max() < 3 and max(x[1].max() for x in a) == 6


def test_too_many_clusters_for_the_frames_is_a_config_error():
    import pytest
    from after.config import ConfigError
    with pytest.raises(ConfigError, match="n_clusters"):
        fit_codebooks(_frames(), PseudoLabelConfig(n_clusters=(10_000,)), seed=0)


def test_span_mask_stays_in_valid_frames_and_masks_every_clip():
    rng = np.random.default_rng(0)
    valid = np.array([50, 2, 17])            # the 2-frame clip is shorter than one span
    m = span_mask(valid, 50, mask_prob=0.05, span=5, rng=rng)
    assert m.shape == (3, 50)
    for row, n in zip(m, valid):
        assert row.any() and not row[n:].any()
