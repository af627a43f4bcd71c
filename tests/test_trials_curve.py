"""The trials curve (longtail.estimators.trials_curve): prefixes, and each point equal to the
split-half reliability of the same study with fewer trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fabricate import planted_trials

from longtail.estimators.reliability import SplitHalves, Trials
from longtail.estimators.trials_curve import CURVE_COLUMNS, curve_of, prefixes, trials_curve


@pytest.mark.parametrize(("t", "expected"), [
    (4096, [128, 256, 512, 1024, 2048, 4096]),
    (1024, [128, 256, 512, 1024]),
    (1500, [128, 256, 512, 1024, 1500]),
    (32, [8, 16, 32]),
    (10, [8, 10]),
])
def test_prefixes_double_from_128_and_end_at_t(t, expected):
    assert prefixes(t) == expected


def trials_of(planted) -> Trials:
    return Trials(planted.mask, planted.train_correct, planted.test_correct,
                  planted.train_labels, planted.test_labels)


def test_each_point_is_the_reliability_of_the_study_with_that_many_trials():
    planted = planted_trials(256, seed=3)
    t = len(planted.mask)
    ids, valid = np.arange(t), np.ones(t, bool)
    valid[[5, 200]] = False  # diverged trials are left out, as the estimators do
    trials = Trials(*(a[valid] for a in (planted.mask, planted.train_correct,
                                         planted.test_correct)),
                    planted.train_labels, planted.test_labels)
    curve = trials_curve(trials, ids, valid, 0.25, [0.1, 0.2], seed=7, splits=4)
    assert list(curve.columns) == list(CURVE_COLUMNS)
    assert sorted(curve["t"].unique()) == [32, 64, 128, 256]
    for prefix in (64, 256):
        use = valid & (ids < prefix)
        rows = (ids < prefix)[valid]
        sub = Trials(trials.mask[rows], trials.train_correct[rows], trials.test_correct[rows],
                     trials.train_labels, trials.test_labels)
        halves = SplitHalves(sub, use, 7, 4)
        pairs = halves.pair_table(0.25, [0.1, 0.2])
        memorized = halves.memorized_table([0.25])
        got = curve[curve["t"] == prefix]
        np.testing.assert_allclose(curve_of(got, "pairs", 0.2)["jaccard"],
                                   pairs.loc[pairs["threshold"] == 0.2, "jaccard"])
        np.testing.assert_allclose(curve_of(got, "pairs", 0.1)["size_a"],
                                   pairs.loc[pairs["threshold"] == 0.1, "pairs_a"])
        np.testing.assert_allclose(curve_of(got, "memorized")["jaccard"], memorized["jaccard"])
        assert (got["half_trials"] == use.sum() // 2).all()


def test_planted_selections_agree_more_with_more_trials():
    planted = planted_trials(2048, n=200, n_test=90, memorized=60, pairs=80, seed=1)
    t = len(planted.mask)
    curve = trials_curve(trials_of(planted), np.arange(t), np.ones(t, bool), 0.25, [0.2],
                         seed=0, splits=6)
    pairs = curve_of(curve, "pairs", 0.2)
    assert pairs["jaccard"].iloc[-1] > pairs["jaccard"].iloc[0] + 0.3
    assert curve_of(curve, "memorized")["jaccard"].iloc[-1] == pytest.approx(1.0)


def test_curve_of_refuses_an_unknown_selection():
    with pytest.raises(ValueError, match="set must be one of"):
        curve_of(pd.DataFrame(columns=list(CURVE_COLUMNS)), "examples")
