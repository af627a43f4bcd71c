"""The models' fit on their own subsets (Section 1's premise), p_in / p_out and the suggested
label from held-out predictions: known answers on tiny arrays, and the store/estimates files."""

from __future__ import annotations

import numpy as np
import pytest
from test_estimates import make_store, write

from longtail.estimators.algorithm1 import held_out_votes, suggested_labels
from longtail.estimators.estimates import (
    compute_estimates,
    estimate_store,
    fit_report,
    read_estimates,
)
from longtail.store.correctness import (
    TrialResults,
    fit_on_subset,
    read_shard,
    read_store,
    write_shard,
)

MASK = np.array([[1, 0, 1],
                 [0, 0, 1],
                 [1, 1, 0],
                 [0, 0, 1]], bool)
PREDICTION = np.array([[2, 1, 0],
                       [1, 2, 0],
                       [0, 0, 2],
                       [1, 1, -1]], np.int16)


def test_held_out_votes_count_predictions_of_trials_without_the_example():
    votes = held_out_votes(MASK, PREDICTION, num_classes=3)
    # example 0 held out in trials 1, 3 (predicted 1, 1); example 1 in 0, 1, 3 (1, 2, 1);
    # example 2 in trial 2 (2); trial 3's -1 (diverged) is never counted
    np.testing.assert_array_equal(votes, [[0, 2, 0], [0, 2, 1], [0, 0, 1]])
    assert votes.dtype == np.int64


def test_held_out_votes_add_over_blocks_of_trials():
    whole = held_out_votes(MASK, PREDICTION, 3)
    parts = held_out_votes(MASK[:2], PREDICTION[:2], 3) + held_out_votes(MASK[2:],
                                                                        PREDICTION[2:], 3)
    np.testing.assert_array_equal(whole, parts)


def test_suggested_label_is_the_majority_with_ties_to_the_smaller_class():
    label, share = suggested_labels(np.array([[0, 2, 0], [3, 3, 0], [0, 0, 0], [1, 0, 3]]))
    np.testing.assert_array_equal(label, [1, 0, -1, 2])
    np.testing.assert_allclose(share, [1.0, 0.5, np.nan, 0.75])


def test_fit_on_subset_counts_only_the_trials_own_examples():
    correct = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0], [1, 1, 1]], bool)
    np.testing.assert_allclose(fit_on_subset(MASK, correct), [0.5, 1.0, 0.5, 1.0])


def test_trial_results_derive_subset_accuracy_and_keep_predictions(tmp_path):
    correct = PREDICTION == np.array([2, 1, 0])
    results = TrialResults(trial=np.arange(4), trial_seed=np.arange(4), mask=MASK,
                           train_correct=correct, test_correct=np.ones((4, 2), bool),
                           test_accuracy=np.ones(4), wall_time=np.ones(4),
                           diverged=np.zeros(4, bool), train_prediction=PREDICTION)
    np.testing.assert_allclose(results.subset_accuracy, fit_on_subset(MASK, correct))
    attrs = {"dataset": "d", "arch": "a", "n": 3, "n_test": 2, "subset_size": 2,
             "fingerprint": "f"}
    write_shard(tmp_path / "s.h5", results, attrs)
    back, _ = read_shard(tmp_path / "s.h5")
    np.testing.assert_array_equal(back.train_prediction, PREDICTION)
    assert back.train_prediction.dtype == np.int16
    np.testing.assert_allclose(back.subset_accuracy, results.subset_accuracy)
    with pytest.raises(ValueError, match="train_prediction has shape"):
        TrialResults(**{**{name: getattr(results, name) for name in results.present()},
                        "train_prediction": PREDICTION[:, :2]})


def with_predictions(store, flipped_every: int = 0, seed: int = 1):
    """The store of make_store with per-trial predictions consistent with train_correct:
    the label when correct, else (label + 1) % 3 (held-out models agree on one other class)."""
    rng = np.random.default_rng(seed)
    labels = store.train_labels
    if flipped_every:
        store.train_label_flipped[::flipped_every] = True
    wrong = (labels + 1 + (rng.random(store.mask.shape) < 0.2)) % 3
    store.trials.train_prediction = np.where(store.train_correct, labels, wrong).astype(np.int16)
    return store


def test_estimates_hold_p_in_p_out_suggested_label_and_the_fit(tmp_path):
    store = with_predictions(make_store(t=120, n=30, classes=3), flipped_every=5)
    path = write(tmp_path, store)
    estimate_store(path, tmp_path / "estimates.h5")
    est = read_estimates(tmp_path / "estimates.h5")
    np.testing.assert_allclose(est.p_in - est.p_out, est.mem)
    mask, correct = store.mask, store.train_correct
    out = ~mask
    np.testing.assert_allclose(est.p_out, (out & correct).sum(0) / out.sum(0))
    # brute force: the majority class of held-out predictions
    for i in range(len(est.mem)):
        counts = np.bincount(store.trials.train_prediction[out[:, i], i], minlength=3)
        assert est.suggested_label[i] == counts.argmax()
        assert est.suggested_label_share[i] == pytest.approx(counts.max() / counts.sum())
    flipped = store.train_label_flipped
    assert est.attrs["fit"] == pytest.approx((mask & correct).sum() / mask.sum())
    assert est.attrs["fit_flipped"] == pytest.approx(
        (mask & correct)[:, flipped].sum() / mask[:, flipped].sum())
    assert est.attrs["fit_min_trial"] == pytest.approx(fit_on_subset(mask, correct).min())
    assert est.attrs["held_out_accuracy"] == pytest.approx((out & correct).sum() / out.sum())


def test_a_store_without_predictions_gives_no_suggested_label(tmp_path):
    path = write(tmp_path, make_store(t=60, n=20))
    estimates, _ = compute_estimates(path)
    assert estimates.suggested_label is None and estimates.p_out is not None
    assert not np.isnan(estimates.attrs["fit"])
    assert "train_prediction" not in read_store(path).trials.present()


def test_fit_report_warns_when_models_do_not_fit_their_data():
    good = fit_report({"fit": 0.995, "fit_flipped": 0.97, "test_accuracy": 0.85})
    assert good == {"models_fit": 0.995, "models_fit_flipped": 0.97,
                    "models_test_accuracy": 0.85}
    bad = fit_report({"fit": 0.9})
    assert "90.0%" in bad["fit_warning"] and "95-100%" in bad["fit_warning"]
