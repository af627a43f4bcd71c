"""``longtail scores ... --format cleanlab``: labels.npy and pred_probs.npy that cleanlab's
``find_label_issues`` takes as they are, pred_probs being the held-out models' class shares."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_estimates import make_store, write

from longtail.cli import main

T, N, CLASSES = 40, 30, 3
PLANTED = (4, 13, 22)  # "mislabeled": the models trained without them agree on another class
DIVERGED = 7


def planted_store(seed: int = 3):
    """40 trials (one diverged), 30 examples, 3 classes, subsets of half the examples. A model
    predicts the given label for examples in its subset; out of it, the label 90% of the
    time for the clean examples (another class otherwise) and always (label + 1) % 3 for the
    planted ones (cleanlab flags exactly these for seeds 0..19).
    The diverged trial holds every example out and predicts (label + 2) % 3 for all: counted,
    it would change every row."""
    rng = np.random.default_rng(seed)
    store = make_store(seed=seed, t=T, n=N, classes=CLASSES, m=N // 2, diverged=(DIVERGED,))
    labels = store.train_labels
    mask = store.trials.mask
    mask[DIVERGED] = False
    target = labels.copy()
    target[list(PLANTED)] = (labels[list(PLANTED)] + 1) % CLASSES
    other = (target + rng.integers(1, CLASSES, (T, N))) % CLASSES
    agree = rng.random((T, N)) < np.where(np.isin(np.arange(N), PLANTED), 1.0, 0.9)
    held_out = np.where(agree, target, other)
    prediction = np.where(mask, labels, held_out)
    prediction[DIVERGED] = (labels + 2) % CLASSES
    store.trials.train_prediction = prediction.astype(np.int16)
    store.trials.train_correct = prediction == labels
    return store


def export(tmp_path: Path, store) -> tuple[Path, Path, Path]:
    path = write(tmp_path, store)
    estimates = tmp_path / "estimates.h5"
    assert main(["estimate", str(path), str(estimates)]) == 0
    return path, estimates, tmp_path / "cleanlab"


def test_pred_probs_are_the_held_out_vote_shares_and_cleanlab_flags_the_planted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = planted_store()
    path, estimates, out = export(tmp_path, store)
    assert main(["scores", str(estimates), str(out), "--format", "cleanlab",
                 "--store", str(path)]) == 0
    assert "pred_probs.npy (30 x 3) from 39 valid trials" in capsys.readouterr().out
    labels, pred_probs = np.load(out / "labels.npy"), np.load(out / "pred_probs.npy")
    assert labels.dtype == np.int64 and pred_probs.dtype == np.float32
    np.testing.assert_array_equal(labels, store.train_labels)
    # exact enumeration: for each example, the valid trials that held it out, and their votes
    prediction = store.trials.train_prediction
    for i in range(N):
        held_out = [k for k in range(T) if k != DIVERGED and not store.trials.mask[k, i]]
        assert held_out
        for c in range(CLASSES):
            votes = sum(int(prediction[k, i]) == c for k in held_out)
            assert pred_probs[i, c] == np.float32(votes / len(held_out))
    np.testing.assert_allclose(pred_probs.sum(axis=1), 1, atol=1e-6)
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["n"], meta["num_classes"], meta["n_valid_trials"]) == (N, CLASSES, T - 1)
    assert meta["n_excluded_trials"] == 1
    assert "find_label_issues" in (out / "README.txt").read_text()

    from cleanlab.filter import find_label_issues  # the test's dependency, not the package's
    flagged = np.flatnonzero(find_label_issues(labels, pred_probs))
    np.testing.assert_array_equal(flagged, PLANTED)


def test_an_example_never_held_out_is_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    store = planted_store()
    store.trials.mask[:, [2, 9]] = True  # in every subset
    path, estimates, out = export(tmp_path, store)
    assert main(["scores", str(estimates), str(out), "--format", "cleanlab",
                 "--store", str(path)]) == 1
    err = capsys.readouterr().err
    assert "2 of 30 training examples (first: 2, 9)" in err and "Raise t" in err
    assert not (out / "pred_probs.npy").exists()


def test_a_store_without_predictions_is_refused(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    store = planted_store()
    store.trials.train_prediction = None
    path, estimates, out = export(tmp_path, store)
    assert main(["scores", str(estimates), str(out), "--format", "cleanlab",
                 "--store", str(path)]) == 1
    assert "records no train_prediction" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["scores", str(estimates), str(out), "--format", "cleanlab"])
    assert exit_.value.code == 2
    assert "needs --store" in capsys.readouterr().err
