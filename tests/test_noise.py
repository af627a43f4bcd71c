"""Label noise: mem as a detector of flipped labels, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from longtail.labels.noise import (
    auroc,
    average_precision,
    label_noise_metrics,
    precision_at_k,
    precision_recall_curve,
)


def test_auroc_counts_winning_pairs_and_half_ties():
    # flipped .9 and .7 against clean .8 and .6: wins .9>.8, .9>.6, .7>.6; loses .7<.8
    assert auroc([0.9, 0.8, 0.7, 0.6], [True, False, True, False]) == pytest.approx(0.75)
    # a tie counts one half: (0.5 + 1) / 2
    assert auroc([0.5, 0.5, 0.1], [True, False, False]) == pytest.approx(0.75)
    assert auroc([1, 2, 3], [False, False, True]) == 1.0
    assert auroc([1, 2, 3], [True, False, False]) == 0.0
    assert math.isnan(auroc([1, 2], [True, True]))


def test_nan_estimates_rank_below_everything():
    assert auroc([np.nan, 0.2], [True, False]) == 0.0
    assert precision_at_k([np.nan, 0.2, 0.1], [True, False, False], 1) == 0.0


def test_precision_at_k_fills_ties_in_expectation():
    scores, flipped = [0.9, 0.5, 0.5, 0.1], [True, True, False, False]
    assert precision_at_k(scores, flipped, 1) == 1.0
    assert precision_at_k(scores, flipped, 2) == pytest.approx(0.75)  # (1 + 1/2) / 2
    assert precision_at_k(scores, flipped, 3) == pytest.approx(2 / 3)
    assert precision_at_k(scores, flipped, 4) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        precision_at_k(scores, flipped, 0)


def test_precision_recall_curve_and_average_precision():
    scores, flipped = [0.9, 0.8, 0.8, 0.1], [True, False, True, False]
    precision, recall, threshold = precision_recall_curve(scores, flipped)
    np.testing.assert_allclose(precision, [1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(recall, [0.5, 1.0, 1.0])
    np.testing.assert_allclose(threshold, [0.9, 0.8, 0.1])
    assert average_precision(scores, flipped) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_label_noise_metrics():
    mem = np.array([0.95, 0.9, 0.1, 0.0, 0.6, np.nan])
    flipped = np.array([True, True, False, False, False, True])
    m = label_noise_metrics(mem, flipped)
    assert m["n_flipped"] == m["k"] == 3 and m["fraction_flipped"] == 0.5
    assert m["precision_at_k"] == pytest.approx(2 / 3)  # .95, .9 flipped, .6 clean
    assert m["auroc"] == pytest.approx(6 / 9)           # the NaN one loses to every clean one
    assert m["mem_flipped_mean"] == pytest.approx(0.925)
    assert m["n_mem_undefined"] == 1
    with pytest.raises(ValueError, match="no training label was flipped"):
        label_noise_metrics(mem, np.zeros(6, bool))


def test_detectors_compared_and_suggested_labels_recover_originals():
    from longtail.labels.noise import compare_detectors, suggested_label_recovery

    flipped = np.array([1, 1, 0, 0, 0, 0, 1, 0], bool)
    original = np.array([3, 1, 0, 2, 2, 0, 4, 1])
    mem = np.array([0.9, 0.1, 0.2, 0.0, 0.3, 0.0, 0.8, 0.1])   # misses flipped example 1
    p_out = np.array([0.0, 0.1, 0.9, 0.8, 0.7, 1.0, 0.05, 0.9])  # 1 - p_out finds all three
    suggested = np.array([3, 2, 0, 2, 2, 0, -1, 1])   # 0 right, 1 wrong, 6 never held out
    out = compare_detectors(mem, p_out, suggested, flipped, original)
    assert out["auroc"] == pytest.approx(12.5 / 15)        # mem: 12 of 15 pairs, one tie
    assert out["auroc_inconsistency"] == pytest.approx(1.0)
    assert out["precision_at_k_inconsistency"] == pytest.approx(1.0)
    assert out["best_detector"] == "inconsistency" and out["best_auroc"] == 1.0
    assert (out["n_flipped_suggested"], out["suggested_original"]) == (2, 1)
    assert out["suggested_original_share"] == pytest.approx(1 / 3)
    assert compare_detectors(mem, None, None, flipped, original)["best_detector"] == "mem"
    assert np.isnan(suggested_label_recovery(None, flipped, original)[
        "suggested_original_share"])
