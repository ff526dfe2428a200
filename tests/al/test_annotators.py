"""Soft labels from evaluators' votes (AFTER Eq. 17)."""
from __future__ import annotations

import numpy as np
import pytest

from after.al.annotators import (mean_group_entropy as group_entropy, mean_individual_entropy as individual_entropy,
                                 probability_variance as vote_variance, soft_labels)

CLASSES = ["ang", "hap", "neu", "sad"]


def test_soft_labels_are_vote_shares():
    y = soft_labels([["ang", "ang", "neu"], ["sad"]], CLASSES)
    np.testing.assert_allclose(y, [[2 / 3, 0, 1 / 3, 0], [0, 0, 0, 1]])


def test_soft_labels_smoothing_and_mapping_order():
    y = soft_labels({"b": ["hap", "hap"], "a": ["neu", "sad"]}, CLASSES, smoothing=0.2)
    np.testing.assert_allclose(y[0], [0.05, 0.85, 0.05, 0.05])
    np.testing.assert_allclose(y.sum(axis=1), 1.0)


@pytest.mark.parametrize("votes, message", [
    ([["ang"], []], "item 1 has no votes"),
    ({"u7": ["ang", "fear"]}, "item 'u7': vote 'fear'"),
    ([["ang"], "neu"], "string"),
])
def test_soft_labels_name_the_bad_item(votes, message):
    with pytest.raises(ValueError, match=message):
        soft_labels(votes, CLASSES)


def test_mean_group_entropy_is_mean_individual_plus_annotator_information():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=(10, 3))
    grp, ind = group_entropy(p), individual_entropy(p)
    assert np.all(grp >= ind - 1e-12)  # concavity of entropy
    identical = np.repeat(p[:, :1], 3, axis=1)
    np.testing.assert_allclose(group_entropy(identical), individual_entropy(identical))
    np.testing.assert_allclose(vote_variance(identical), 0.0, atol=1e-15)
