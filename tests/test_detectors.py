"""Label-error detectors side by side (longtail.labels.detectors, longtail.labels.kfold and their
reporting): known answers on tiny stores, K-fold splits and files, training one split, tables and
figure."""

from __future__ import annotations

from pathlib import Path

import fabricate as fab
import numpy as np
import pandas as pd
import pytest
from test_cleanlab import PLANTED, planted_store
from test_estimates import write

from longtail.config.study import with_defaults
from longtail.data import load_study_data, make_study_data
from longtail.labels.detectors import (
    Detector,
    cost_curve,
    evaluate,
    first_reaching,
    kfold_detector,
    side_by_side,
    trial_inputs,
)
from longtail.labels.kfold import KFoldResult, fold_assignment, mean_probs, read_kfold, write_kfold
from longtail.store.correctness import CorrectnessStore, TrialResults

pytest.importorskip("cleanlab")


def tiny_store() -> CorrectnessStore:
    """3 trials, 3 examples, 2 classes; trial 2 diverged (left out).
    example 0: in trial 0 (correct), out of trial 1 (predicts 1, label 0): mem 1, p_out 0
    example 1: out of 0 (predicts 1 = label), in 1 (correct): mem 1 - 1 = 0, p_out 1
    example 2: out of both (predicts 0 and 1, label 1): mem NaN, p_out 1/2"""
    mask = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 1]], bool)
    prediction = np.array([[0, 1, 0], [1, 1, 1], [-1, -1, -1]], np.int16)
    labels = np.array([0, 1, 1])
    trials = TrialResults(
        trial=np.arange(3), trial_seed=np.arange(3), mask=mask,
        train_correct=prediction == labels, test_correct=np.ones((3, 1), bool),
        test_accuracy=np.ones(3), wall_time=np.ones(3), diverged=np.array([0, 0, 1], bool),
        train_prediction=prediction)
    return CorrectnessStore(trials=trials, train_labels=labels, test_labels=np.array([0]),
                            train_source_index=np.arange(3), test_source_index=np.arange(1),
                            train_label_flipped=np.array([1, 0, 0], bool))


def test_trial_inputs_by_hand():
    inputs = trial_inputs(tiny_store(), 3)
    np.testing.assert_array_equal(inputs.mem, [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(inputs.p_out, [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(inputs.vote_probs, [[0, 1], [0, 1], [0.5, 0.5]])
    assert inputs.models == 3 and inputs.train_size == 1.0
    first = trial_inputs(tiny_store(), 1)  # trial 0 only: example 0 never held out
    np.testing.assert_array_equal(first.vote_probs, [[0.5, 0.5], [0, 1], [1, 0]])
    with pytest.raises(ValueError, match="holds 3 of trials 0..3"):
        trial_inputs(tiny_store(), 4)


def test_evaluate_by_hand():
    flipped = np.array([1, 0, 0, 1, 0], bool)
    detector = Detector("d", "x", np.array([0.9, 0.8, 0.1, 0.7, 0.2]),
                        np.array([1, 1, 0, 0, 0], bool), models=4, train_size=10.0)
    row = evaluate(detector, flipped)
    # pairs (flipped, clean) ranked right: 0.9 beats all 3; 0.7 beats 0.1 and 0.2: 5 of 6
    assert row["auroc"] == pytest.approx(5 / 6)
    assert row["precision_at_k"] == 0.5 and row["k"] == 2
    assert row["average_precision"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert (row["n_flagged"], row["flagged_precision"], row["flagged_recall"]) == (2, 0.5, 0.5)
    assert (row["models"], row["train_examples"]) == (4, 40.0)


def test_fold_assignment_is_balanced_seeded_and_new_per_repeat():
    fold = fold_assignment(23, 5, study_seed=0, repeat=0)
    assert sorted(np.bincount(fold)) == [4, 4, 5, 5, 5]
    np.testing.assert_array_equal(fold, fold_assignment(23, 5, 0, 0))
    assert not np.array_equal(fold, fold_assignment(23, 5, 0, 1))
    with pytest.raises(ValueError, match="2 <= K <= n"):
        fold_assignment(3, 4, 0, 0)


def kfold_result(probs: np.ndarray, folds: int = 5, repeat: int = 0) -> KFoldResult:
    n = len(probs)
    return KFoldResult(probs.astype(np.float32), fold_assignment(n, folds, 0, repeat),
                       np.ones(folds), np.zeros(folds, bool),
                       {"folds": folds, "repeat": repeat, "models": folds,
                        "train_size": n * (folds - 1) / folds})


def test_kfold_file_round_trip_and_mean(tmp_path: Path):
    a = kfold_result(np.array([[1.0, 0.0], [0.2, 0.8], [0.5, 0.5]]), repeat=0, folds=3)
    b = kfold_result(np.array([[0.0, 1.0], [0.4, 0.6], [0.5, 0.5]]), repeat=1, folds=3)
    write_kfold(tmp_path / "3-0.h5", a)
    back = read_kfold(tmp_path / "3-0.h5")
    np.testing.assert_array_equal(back.pred_probs, a.pred_probs)
    assert back.attrs["folds"] == 3 and back.models == 3
    probs, models = mean_probs([a, b])
    np.testing.assert_allclose(probs, [[0.5, 0.5], [0.3, 0.7], [0.5, 0.5]])
    assert models == 6


def planted(flip: bool = True) -> CorrectnessStore:
    store = planted_store()
    store.train_label_flipped = np.isin(np.arange(len(store.train_labels)), PLANTED)
    return store


def test_every_detector_finds_the_planted_labels():
    store = planted()
    labels = store.train_labels
    oof = np.full((len(labels), 3), 0.05)
    oof[np.arange(len(labels)), labels] = 0.9
    oof[list(PLANTED)] = 0.05
    oof[list(PLANTED), (labels[list(PLANTED)] + 1) % 3] = 0.9
    detectors = side_by_side(store, [kfold_result(oof)])
    rows = {d.name + d.probabilities: evaluate(d, store.train_label_flipped) for d in detectors}
    assert list(rows) == ["mem~held-out votes, t = 40", "1 - p_outheld-out votes, t = 40",
                          "cleanlabheld-out votes, t = 40", "cleanlab5-fold"]
    for name, row in rows.items():
        assert row["auroc"] == 1.0 and row["precision_at_k"] == 1.0, name
    assert rows["cleanlab5-fold"]["flagged_recall"] == 1.0
    assert rows["cleanlabheld-out votes, t = 40"]["flagged_precision"] == 1.0
    assert kfold_detector(labels, [kfold_result(oof)] * 3).models == 15


def test_cost_curve_and_first_reaching():
    store = planted()
    oof = np.full((len(store.train_labels), 3), 1 / 3)
    rows = cost_curve(store, [8, 40], {5: [kfold_result(oof, 5, r) for r in range(3)],
                                       2: [kfold_result(oof, 2)]}, main_folds=5)
    methods = [(row["method"], row["models"]) for row in rows]
    assert methods == [("mem~", 8), ("1 - p_out", 8), ("cleanlab (votes)", 8),
                       ("mem~", 40), ("1 - p_out", 40), ("cleanlab (votes)", 40),
                       ("cleanlab (K-fold)", 2), ("cleanlab (K-fold)", 5),
                       ("cleanlab (repeated 5-fold)", 10), ("cleanlab (repeated 5-fold)", 15)]
    first = first_reaching(rows, 0.95)
    assert first["1 - p_out"] in (8, 40) and first["cleanlab (K-fold)"] is None
    fake = [{"method": "a", "models": 8, "auroc": 0.9}, {"method": "a", "models": 16,
                                                           "auroc": 0.96},
            {"method": "a", "models": 32, "auroc": 0.94}, {"method": "b", "models": 5,
                                                             "auroc": 0.5}]
    assert first_reaching(fake, 0.95) == {"a": 16, "b": None}


def test_tables_and_figure(tmp_path: Path):
    from longtail.reporting.detectors import make_detector_cost, make_detectors
    store = planted()
    path = write(tmp_path, store)
    oof = np.full((len(store.train_labels), 3), 1 / 3)
    kfold = []
    for k, r in ((2, 0), (5, 0), (5, 1)):
        kfold.append(tmp_path / f"{k}-{r}.h5")
        write_kfold(kfold[-1], kfold_result(oof, k, r))
    out = {ext: tmp_path / f"detectors.{ext}" for ext in ("csv", "md", "pdf", "png")}
    table = make_detectors("planted", path, [kfold[1]], out)
    assert list(table["detector"]) == ["mem~", "1 - p_out", "cleanlab", "cleanlab"]
    assert out["pdf"].read_bytes().startswith(b"%PDF")
    assert out["png"].read_bytes().startswith(b"\x89PNG")
    assert "| mem~ | held-out votes, t = 40 | 40 | 1.000 |" in out["md"].read_text()
    assert pd.read_csv(out["csv"])["k"].tolist() == [3] * 4
    cost = make_detector_cost(["planted"], [path], [kfold], [8, 16, 64], 5,
                              tmp_path / "cost.csv", tmp_path / "cost.md")
    assert sorted(set(cost["models"])) == [2, 5, 8, 10, 16]  # t = 64 > 40 trials: skipped
    md = (tmp_path / "cost.md").read_text()
    assert "| planted | cleanlab (K-fold) | not reached | not reached |" in md


def test_training_one_split(tmp_path: Path):
    from longtail.train.kfold_training import train_kfold
    cache = tmp_path / "cache.h5"
    labels = np.arange(60) % 3
    fab.synthetic_cache(cache, labels, np.arange(12) % 3, num_classes=3)
    data = tmp_path / "data.h5"
    make_study_data(cache, data, n_train=None, n_test=None, label_noise=0.1, seed=0)
    study = with_defaults({"dataset": "mnist", "arch": "mlp-8", "label_noise": 0.1,
                           "train": {"epochs": 2, "batch_size": 16, "lr": 0.05, "threads": 1,
                                     "precision": "fp32"}})
    train_kfold(data, tmp_path / "3-0.h5", study, 3, 0)
    result = read_kfold(tmp_path / "3-0.h5")
    assert result.pred_probs.shape == (60, 3) and result.models == 3
    np.testing.assert_allclose(result.pred_probs.sum(axis=1), 1, atol=1e-5)
    assert sorted(np.bincount(result.fold)) == [20, 20, 20]
    assert result.attrs["train_size"] == 40.0


def test_wiring_picks_noise_studies_and_splits():
    from longtail.workflow.detector_wiring import DetectorWiring
    config = {"studies": {"a": {"label_noise": 0.1}, "b": {"label_noise": 0.0},
                          "c": {"label_noise": {"kind": "confusable", "rate": 0.1}}},
              "detectors": {"folds": [2, 5], "main_folds": 5, "repeats": 3, "trials": [8]}}
    wiring = DetectorWiring.from_config(config, ["a", "b", "c"])
    assert wiring.studies == ["a", "c"]  # cleanlab is installed here (importorskip above)
    assert wiring.splits() == [(2, 0), (5, 0), (5, 1), (5, 2)]
    assert wiring.kfold_files("a")[-1] == "results/a/kfold/5-2.h5"
    assert wiring.outputs()[-1] == "tables/detector_cost.md"
    config["detectors"]["studies"] = []
    assert DetectorWiring.from_config(config, ["a"]).outputs() == []


def sixty_one_examples(tmp_path: Path) -> Path:
    """A study's data.h5 of 61 synthetic training examples of 3 classes (K = 3 folds of
    unequal size), no label noise."""
    cache, data = tmp_path / "cache.h5", tmp_path / "data.h5"
    fab.synthetic_cache(cache, np.arange(61) % 3, np.arange(12) % 3, num_classes=3)
    make_study_data(cache, data, n_train=None, n_test=None, label_noise=0.0, seed=0)
    return data


def test_batched_and_one_at_a_time_splits_agree_in_shape(tmp_path: Path):
    """Folds of unequal size (n = 61, K = 3) train one model at a time; equal ones batched."""
    from longtail.train.kfold_training import train_kfold
    data = sixty_one_examples(tmp_path)
    study = with_defaults({"dataset": "mnist", "arch": "mlp-8",
                           "train": {"epochs": 1, "batch_size": 16, "threads": 1,
                                     "precision": "fp32"}})
    train_kfold(data, tmp_path / "3-0.h5", study, 3, 0)
    result = read_kfold(tmp_path / "3-0.h5")
    assert sorted(np.bincount(result.fold)) == [20, 20, 21]
    np.testing.assert_allclose(result.pred_probs.sum(axis=1), 1, atol=1e-5)


def test_one_at_a_time_predicts_in_chunks_as_in_one_pass(tmp_path: Path):
    """The held-out fold's softmax, computed 7 examples at a time (as a large fold is, 2,048 at
    a time), equals one pass over the fold; the same seeds train the same models."""
    import torch

    from longtail.train.kfold_training import _one_at_a_time
    from longtail.train.recipe import Recipe
    from longtail.train.stages import training_data
    data_path = sixty_one_examples(tmp_path)
    study = with_defaults({"dataset": "mnist", "arch": "cnn",
                           "train": {"epochs": 1, "batch_size": 16, "threads": 1,
                                     "precision": "fp32"}})
    data = training_data(load_study_data(data_path))
    fold = np.arange(61) % 3
    run = [_one_at_a_time(data, "cnn", Recipe.from_config(study["train"]), [1, 2, 3], fold,
                          torch.device("cpu"), chunk=chunk) for chunk in (7, 2048)]
    np.testing.assert_allclose(run[0][0], run[1][0], rtol=1e-5, atol=1e-6)
    assert (run[0][1] == run[1][1]).all()
