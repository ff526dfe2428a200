"""The paper's annotator-aware scores (AFTER 2405.00307, Eq. 12-15) and soft labels (Eq. 17), each on a
hand-made case where the paper's definition and the ACTOR-style average the code used before choose
differently."""
from __future__ import annotations

import numpy as np
import pytest

from after.al.annotators import soft_labels, split_vote
from after.al.base import PoolView
from after.al.strategies import (STRATEGIES, GroupEntropy, IndividualEntropy, MeanGroupEntropy,
                                 MeanIndividualEntropy, MixedEntropy, ProbabilityVariance, VoteVariance,
                                 WeightedMix)

UNIFORM = [1 / 3] * 3


def _pick(strategy, clips) -> int:
    view = PoolView(annotator_probs=np.array(clips, dtype=float))
    return int(strategy.select(view, 1, np.random.default_rng(0)).indices[0])


def test_individual_entropy_asks_the_single_most_uncertain_pair():
    # A: one annotator's head is at chance, the two others sure; B: every head moderately unsure.
    a = [UNIFORM, [0.98, 0.01, 0.01], [0.98, 0.01, 0.01]]
    b = [[0.6, 0.3, 0.1]] * 3
    assert _pick(IndividualEntropy(), [a, b]) == 0          # Eq. 13: argmax over (clip, annotator) pairs
    assert _pick(MeanIndividualEntropy(), [a, b]) == 1      # the old mean over heads
    view = PoolView(annotator_probs=np.array([a, b]))
    assert IndividualEntropy().annotators(view, np.array([0]))[0] == 0   # ask annotator 0 about clip A
    assert IndividualEntropy().scores(view)[0] == pytest.approx(np.log(3), abs=1e-3)


def test_group_entropy_is_the_entropy_of_the_summed_normalised_logits():
    a = [[0.99, 0.01], [0.3, 0.7]]      # mean probability ~ [0.65, 0.35], summed log-probs favour class 0
    b = [[0.8, 0.2], [0.8, 0.2]]
    assert _pick(GroupEntropy(), [a, b]) == 1
    assert _pick(MeanGroupEntropy(), [a, b]) == 0
    z = np.log([0.99, 0.01]) + np.log([0.3, 0.7])
    q = np.exp(z) / np.exp(z).sum()
    expect = -(q * np.log(q)).sum()
    assert GroupEntropy().scores(PoolView(annotator_probs=np.array([a])))[0] == pytest.approx(expect)


def test_vote_variance_is_the_variance_of_the_heads_votes():
    a = [[0.51, 0.49], [0.49, 0.51]]    # the heads vote differently, with nearly equal probabilities
    b = [[1.0, 0.0], [0.6, 0.4]]        # the heads vote alike, with very different probabilities
    assert _pick(VoteVariance(), [a, b]) == 0
    assert _pick(ProbabilityVariance(), [a, b]) == 1
    assert VoteVariance().scores(PoolView(annotator_probs=np.array([a, b]))) == pytest.approx([0.5, 0.0])


def test_mix_is_the_sum_of_individual_and_group_entropy():
    a = [[0.34, 0.33, 0.33], [0.9, 0.05, 0.05], [0.9, 0.05, 0.05]]
    b = [[0.7, 0.2, 0.1]] * 3
    view = PoolView(annotator_probs=np.array([a, b]))
    np.testing.assert_allclose(MixedEntropy().scores(view),
                               IndividualEntropy().scores(view) + GroupEntropy().scores(view))
    assert _pick(MixedEntropy(), [a, b]) == 0
    assert _pick(WeightedMix(), [a, b]) == 1


def test_registry_keeps_both_definitions_under_their_own_names():
    assert STRATEGIES["individual_entropy"] is IndividualEntropy
    assert STRATEGIES["mean_individual_entropy"] is MeanIndividualEntropy
    assert STRATEGIES["mix"] is MixedEntropy and STRATEGIES["weighted_mix"] is WeightedMix


def test_an_evaluator_with_two_labels_gives_two_votes():
    y = soft_labels([["sad", "sad", "sad;neu"]], ["ang", "hap", "neu", "sad"])
    np.testing.assert_allclose(y[0], [0, 0, 0.25, 0.75])
    y = soft_labels([["E1:sad", "E2:sad;neu"]], ["ang", "hap", "neu", "sad"])
    np.testing.assert_allclose(y[0], [0, 0, 1 / 3, 2 / 3])
    assert split_vote("C-E2:sad;neu") == ("C-E2", ["sad", "neu"])
