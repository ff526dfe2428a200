"""Group-independent folds: properties (Hypothesis) and known answers."""
from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from after.data.splits import split_by_group


@st.composite
def split_cases(draw):
    n_speakers = draw(st.integers(2, 12))
    sizes = draw(st.lists(st.integers(1, 15), min_size=n_speakers, max_size=n_speakers))
    n_folds = draw(st.integers(2, n_speakers))
    val_fraction = draw(st.sampled_from([0.0, 0.1, 0.25, 0.5]))
    seed = draw(st.integers(0, 2**31 - 1))
    return {f"spk{i:02d}": n for i, n in enumerate(sizes)}, n_folds, val_fraction, seed


def _folds(manifest, n_folds, val_fraction, seed):
    try:
        return split_by_group(manifest, "speaker", n_folds, val_fraction, seed), val_fraction
    except ValueError as exc:
        # A fold left with a single training speaker cannot give one up for validation.
        assert "cannot hold out a validation group" in str(exc) and val_fraction > 0
        return split_by_group(manifest, "speaker", n_folds, 0.0, seed), 0.0


@settings(max_examples=60, deadline=None)
@given(split_cases())
def test_folds_are_speaker_disjoint_and_cover_every_row_once(toy, case):
    speakers, n_folds, val_fraction, seed = case
    m = toy(speakers)
    folds, val_fraction = _folds(m, n_folds, val_fraction, seed)
    spk = {u.id: u.speaker for u in m}
    assert len(folds) == n_folds and [f.index for f in folds] == list(range(1, n_folds + 1))
    tested = Counter(i for f in folds for i in f.test)
    assert set(tested) == set(m.ids) and set(tested.values()) == {1}
    test_speakers = [{spk[i] for i in f.test} for f in folds]
    assert sum(len(s) for s in test_speakers) == len(speakers)  # each speaker tested in exactly one fold
    for f, tests in zip(folds, test_speakers):
        train, val = {spk[i] for i in f.train}, {spk[i] for i in f.val}
        assert tests and not tests & train and not tests & val and not val & train
        assert sorted(f.train + f.val + f.test) == sorted(m.ids)
        assert train, "every fold keeps a training speaker"
        if val_fraction > 0:
            assert val, "validation holds at least one whole speaker"


@settings(max_examples=30, deadline=None)
@given(split_cases())
def test_same_seed_same_folds(toy, case):
    speakers, n_folds, val_fraction, seed = case
    m = toy(speakers)
    assert _folds(m, n_folds, val_fraction, seed) == _folds(m, n_folds, val_fraction, seed)


def test_seed_changes_folds_of_equal_speakers(toy):
    m = toy({f"s{i}": 10 for i in range(10)})
    assert split_by_group(m, n_folds=5, seed=1) != split_by_group(m, n_folds=5, seed=2)


def test_test_folds_are_balanced_by_utterance_count(toy):
    m = toy({f"s{i:02d}": 60 for i in range(24)})
    folds = split_by_group(m, n_folds=5, val_fraction=0.1, seed=0)
    assert sorted(len(f.test) for f in folds) == [240, 300, 300, 300, 300]
    for f in folds:  # two speakers of 60 = 120 validation rows, close to 10 % of the training rows
        assert len(f.val) == 120


def test_leave_one_session_out(toy):
    speakers = {f"Ses0{n}{g}": 4 for n in range(1, 6) for g in "FM"}
    m = toy(speakers, sessions={s: f"Session{int(s[4])}" for s in speakers})
    folds = split_by_group(m, by="session", n_folds=5, val_fraction=0.2, seed=0)
    sess = {u.id: u.session for u in m}
    for f in folds:
        assert {sess[i] for i in f.test} == {f"Session{f.index}"}
        assert len({sess[i] for i in f.val}) == 1 and not {sess[i] for i in f.val} & {sess[i] for i in f.train}


def test_too_many_folds_is_a_clear_error(toy):
    with pytest.raises(ValueError, match=r"cannot make 4 speaker-independent folds from 3 speaker\(s\); use --folds 3"):
        split_by_group(toy({"a": 2, "b": 2, "c": 2}), n_folds=4)


def test_session_split_needs_sessions(toy):
    with pytest.raises(ValueError, match="have no session"):
        split_by_group(toy({"a": 2, "b": 2}), by="session", n_folds=2)
