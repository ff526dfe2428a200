import numpy as np
import pytest

from after.evaluation.metrics import (confusion_matrix, macro_f1, summarize, unweighted_accuracy,
                                      weighted_accuracy)

# 3 classes: class 0 has 4 items (3 right), class 1 has 2 (1 right), class 2 has 1 (0 right).
Y_TRUE = [0, 0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 0, 1, 1, 0, 1]


def test_known_answers():
    assert weighted_accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 7)
    assert unweighted_accuracy(Y_TRUE, Y_PRED) == pytest.approx((3 / 4 + 1 / 2 + 0) / 3)
    # F1: class0 tp=3, |t|=4, |p|=4 -> 6/8; class1 tp=1, |t|=2, |p|=3 -> 2/5; class2 tp=0 -> 0
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx((0.75 + 0.4 + 0.0) / 3)
    np.testing.assert_array_equal(confusion_matrix(Y_TRUE, Y_PRED, 3), [[3, 1, 0], [1, 1, 0], [0, 1, 0]])


def test_ua_ignores_classes_absent_from_truth():
    # class 2 is predicted but never true: UA averages over classes 0 and 1 only
    assert unweighted_accuracy([0, 0, 1, 1], [0, 2, 1, 1]) == pytest.approx((0.5 + 1.0) / 2)


def test_ua_differs_from_wa_on_imbalance():
    y = [0] * 9 + [1]
    p = [0] * 10
    assert weighted_accuracy(y, p) == pytest.approx(0.9)
    assert unweighted_accuracy(y, p) == pytest.approx(0.5)


def test_matches_sklearn():
    from sklearn.metrics import balanced_accuracy_score, f1_score
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    assert unweighted_accuracy(t, p) == pytest.approx(balanced_accuracy_score(t, p))
    assert macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro"))


def test_summarize_mean_and_std():
    s = summarize([{"ua": 0.5, "wa": 0.6, "f1": 0.4}, {"ua": 0.7, "wa": 0.8, "f1": 0.6}])
    assert s["ua_mean"] == pytest.approx(0.6) and s["ua_std"] == pytest.approx(0.1)
    assert s["wa_mean"] == pytest.approx(0.7) and s["n_runs"] == 2


def test_errors():
    with pytest.raises(ValueError, match="differ in length"):
        weighted_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="labels must lie"):
        confusion_matrix([0, 3], [0, 1], n_classes=3)
