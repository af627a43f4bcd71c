"""Last-layer-only estimates (Section 3): representation extraction, linear trials on the
study's own subsets, the store they write, and the summary against hand-made stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import blobs

from longtail.config.study import Study, full_model_seed, trial_seed, with_defaults
from longtail.estimators.estimates import estimate_store
from longtail.estimators.select import select_pairs_file
from longtail.reporting.lastlayer import joint_histogram, make_figC3, tabulate_lastlayer
from longtail.store.correctness import (
    CorrectnessStore,
    StoreError,
    TrialResults,
    read_store,
    write_store,
)
from longtail.train.lastlayer import (
    LastLayerInputs,
    Representations,
    extract,
    lastlayer_summary,
    linear_trials,
    read_representations,
    same_class_influence_pairs,
    train_full_model,
    train_lastlayer,
    write_representations,
)
from longtail.train.recipe import Recipe
from longtail.train.stages import trial_plan
from longtail.train.training import train_trials

RECIPE = Recipe.with_defaults(epochs=2, batch_size=32, lr=0.05, weight_decay=0.0, threads=1,
                              ensemble_size=4)
LINEAR = Recipe.with_defaults(epochs=20, batch_size=16, lr=0.05, weight_decay=0.0, threads=1,
                              ensemble_size=8)
STUDY = {"dataset": "synthetic", "arch": "mlp", "seed": 3, "subset_ratio": 0.7, "trials": 8,
         "n_train": None, "n_test": None, "label_noise": 0.0, "train": {}}


def test_full_model_seed_is_no_trial_seed() -> None:
    assert full_model_seed(0) == full_model_seed(0) != full_model_seed(1)
    assert full_model_seed(0) not in {trial_seed(0, k) for k in range(2**16)}


@pytest.mark.parametrize("arch, dim", [("mlp", 256), ("cnn", 128)])
def test_representations_are_the_penultimate_layer_and_deterministic(arch: str,
                                                                     dim: int) -> None:
    data = blobs(64, 24, side=8)
    first = train_full_model(data, arch, RECIPE, seed=5)
    train, test = extract(first, data)
    assert train.shape == (64, dim) and test.shape == (24, dim) and train.dtype == np.float32
    # The head on the representation is the model: same correctness as the full forward pass.
    with torch.no_grad():
        head = first.model.head(torch.from_numpy(test)).argmax(1).numpy()
    np.testing.assert_array_equal(head == data.y_test.numpy(), first.test_correct)
    # Same seed, same model, same representation; extraction itself is repeatable.
    again = train_full_model(data, arch, RECIPE, seed=5)
    np.testing.assert_array_equal(extract(again, data)[0], train)
    np.testing.assert_array_equal(extract(first, data)[1], test)
    other = train_full_model(data, arch, RECIPE, seed=6)
    assert not np.array_equal(extract(other, data)[0], train)
    assert first.seconds > 0


def toy_representations(n: int = 60, n_test: int = 20, dim: int = 5, classes: int = 3
                        ) -> Representations:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 2, (classes, dim))
    y, y_test = rng.integers(0, classes, n), rng.integers(0, classes, n_test)
    return Representations(
        train=(centers[y] + rng.normal(0, 1, (n, dim))).astype(np.float32),
        test=(centers[y_test] + rng.normal(0, 1, (n_test, dim))).astype(np.float32),
        train_labels=y, test_labels=y_test, full_train_correct=np.ones(n, bool),
        full_test_correct=np.ones(n_test, bool),
        attrs={"num_classes": classes, "arch": "mlp", "test_accuracy": 0.9,
               "train_accuracy": 1.0, "train_seconds": 3.0, "extract_seconds": 1.0})


def test_linear_trials_use_the_studys_subsets_and_seeds() -> None:
    reps = toy_representations()
    results = linear_trials(reps, STUDY, LINEAR, list(range(8)), progress=False)
    seeds, masks = trial_plan(STUDY, 60, range(8))
    np.testing.assert_array_equal(results.mask, masks)
    np.testing.assert_array_equal(results.trial_seed, seeds)
    assert (results.mask.sum(1) == 42).all()
    # The full study's own trials (any architecture) ran on exactly these subsets.
    study_run = train_trials(blobs(60, 20), "mlp", RECIPE, seeds, masks, progress=False)
    np.testing.assert_array_equal(study_run.mask, results.mask)
    # A subset of trial ids gives the same rows: trials do not depend on their neighbours.
    some = linear_trials(reps, STUDY, LINEAR, [2, 5], progress=False)
    np.testing.assert_array_equal(some.mask, masks[[2, 5]])
    np.testing.assert_array_equal(some.train_correct, results.train_correct[[2, 5]])
    assert results.test_accuracy.mean() > 0.6  # separable clusters: the linear models learn


def test_representations_file_round_trip(tmp_path: Path) -> None:
    reps = toy_representations()
    write_representations(tmp_path / "r.h5", reps)
    back = read_representations(tmp_path / "r.h5")
    np.testing.assert_array_equal(back.train, reps.train)
    assert back.attrs["num_classes"] == 3 and back.attrs["arch"] == "mlp"
    (tmp_path / "bad.h5").write_text("nope")
    with pytest.raises(StoreError, match="bad.h5"):
        read_representations(tmp_path / "bad.h5")


@pytest.mark.filterwarnings("ignore::longtail.estimators.algorithm1.TooFewTrialsWarning")
def test_train_lastlayer_writes_a_store_the_estimators_read(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import longtail.train.lastlayer as lastlayer

    reps = toy_representations()

    class FakeData:  # what load_study_data returns, for the attributes the store records
        y_train, y_test = reps.train_labels, reps.test_labels
        x_train = np.zeros((60, 1, 1, 1), np.uint8)
        train_source_index, test_source_index = np.arange(60) + 7, np.arange(20) + 9
        train_label_flipped = np.zeros(60, bool)
        data_hash = "hash"

    monkeypatch.setattr(lastlayer, "load_study_data", lambda path: FakeData)
    reps.attrs.update(data_hash="hash", fingerprint=Study.of(STUDY).trials_fingerprint)
    write_representations(tmp_path / "r.h5", reps)
    linear = with_defaults({"epochs": 2, "batch_size": 32, "lr": 0.05, "weight_decay": 0.0,
                            "ensemble_size": 8, "threads": 1}, "train")
    train_lastlayer("data.h5", tmp_path / "r.h5", tmp_path / "c.h5", STUDY, linear,
                    progress=False)
    store = read_store(tmp_path / "c.h5")
    assert store.attrs["arch"] == "linear" and store.attrs["representation_arch"] == "mlp"
    assert store.attrs["fingerprint"] == Study.of(STUDY).lastlayer_fingerprint(linear)
    np.testing.assert_array_equal(store.mask, trial_plan(STUDY, 60, range(8))[1])
    np.testing.assert_array_equal(store.train_source_index, FakeData.train_source_index)
    attrs = estimate_store(tmp_path / "c.h5", tmp_path / "e.h5", min_out_trials=1)
    assert attrs["n_valid_trials"] == 8 and attrs["arch"] == "linear"
    # Representations of other data (or another recipe) are refused.
    reps.attrs["data_hash"] = "other"
    write_representations(tmp_path / "r.h5", reps)
    with pytest.raises(StoreError, match="re-extract"):
        train_lastlayer("data.h5", tmp_path / "r.h5", tmp_path / "c2.h5", STUDY, linear)


def test_fingerprint_follows_the_linear_recipe_not_threads() -> None:
    study = Study.of(STUDY)
    base = study.lastlayer_fingerprint({"epochs": 2, "threads": 1})
    assert base == study.lastlayer_fingerprint({"epochs": 2, "threads": 8})
    assert base != study.lastlayer_fingerprint({"epochs": 3, "threads": 1})
    other = Study.of({**STUDY, "arch": "cnn"})
    assert base != other.lastlayer_fingerprint({"epochs": 2, "threads": 1})


# ----------------------------------------------------------------- the summary, known answers

def hand_store(path: Path, memorized: int, wall_time: float, t: int = 40, n: int = 20,
               n_test: int = 6) -> Path:
    """Trials where training examples 0..memorized-1 are right exactly when trained on (mem
    1) and test example 0 exactly when example 0 is (infl 1), every other example always right
    (mem 0, infl 0). Examples 1..4 are the only ones of class 1 among the training examples
    and test example 5 among the test examples, so they can pair with no other example."""
    _, masks = trial_plan({"seed": 0, "subset_ratio": 0.5}, n, range(t))
    train_correct = np.ones((t, n), bool)
    train_correct[:, :memorized] = masks[:, :memorized]
    test_correct = np.ones((t, n_test), bool)
    if memorized:
        test_correct[:, 0] = masks[:, 0]
    trials = TrialResults(trial=np.arange(t), trial_seed=np.arange(t), mask=masks,
                          train_correct=train_correct, test_correct=test_correct,
                          test_accuracy=test_correct.mean(1), wall_time=np.full(t, wall_time),
                          diverged=np.zeros(t, bool))
    train_labels, test_labels = np.zeros(n, np.int64), np.zeros(n_test, np.int64)
    train_labels[1:5], test_labels[5] = 1, 1
    write_store(path, CorrectnessStore(
        trials=trials, train_labels=train_labels, test_labels=test_labels,
        train_source_index=np.arange(n), test_source_index=np.arange(n_test),
        train_label_flipped=np.zeros(n, bool),
        attrs={"dataset": "hand", "arch": "x", "n": n, "n_test": n_test, "subset_size": n // 2,
               "fingerprint": "hand"}))
    return path


def test_summary_counts_and_speed_ratio(tmp_path: Path) -> None:
    files = {}
    for side, memorized, seconds in (("full", 5, 2.0), ("linear", 0, 0.1)):
        store = hand_store(tmp_path / f"{side}.h5", memorized, seconds)
        estimate_store(store, tmp_path / f"{side}_e.h5", min_out_trials=1)
        select_pairs_file(tmp_path / f"{side}_e.h5", tmp_path / f"{side}_p.csv")
        files[side] = (store, tmp_path / f"{side}_e.h5", tmp_path / f"{side}_p.csv")
    reps = toy_representations(n=20, n_test=6)
    write_representations(tmp_path / "r.h5", reps)
    paths = LastLayerInputs(tmp_path / "r.h5", *files["full"][:2], *files["linear"])
    row = lastlayer_summary("s", paths, mem_threshold=0.25, infl_threshold=0.15)
    assert row["memorized_subset_models"] == 5 and row["memorized_linear_models"] == 0
    assert row["memorized_both"] == 0
    # Only training example 0 moves test example 0 (infl 1) in the full models.
    assert row["pairs_subset_models"] == 1 and row["pairs_linear_models"] == 0
    assert row["speed_ratio"] == pytest.approx(20.0)
    assert row["seconds_per_subset_model"] == pytest.approx(2.0)
    assert row["representation_seconds"] == pytest.approx(4.0)
    assert row["total_speed_ratio"] == pytest.approx(80.0 / (4.0 + 4.0))
    assert row["full_model_test_accuracy"] == 0.9
    in_subset = read_store(files["full"][0]).mask[:, 0].mean()
    assert row["subset_models_test_accuracy"] == pytest.approx(1 - (1 - in_subset) / 6)
    assert row["linear_models_test_accuracy"] == 1.0
    table = tabulate_lastlayer([row], tmp_path / "t.csv", tmp_path / "t.md")
    assert table.loc[0, "speed_ratio"] == pytest.approx(20.0)
    text = (tmp_path / "t.md").read_text()
    assert "| examples with mem~ ≥ 0.25, subset models | 5 | 18099 |" in text
    assert "| speed-up per model (subset / linear) | 20.0x | 720x |" in text
    # Influence of the same-class pairs, one value per pair in both: 16 x 5 + 4 x 1 pairs.
    pairs = list(same_class_influence_pairs(files["full"][1], files["linear"][1]))
    full, linear = (np.concatenate(side) for side in zip(*pairs, strict=True))
    assert len(full) == len(linear) == 84
    assert np.sort(full)[-1] == pytest.approx(1.0) and np.allclose(linear, 0.0)
    json.dumps(row)  # the row is plain data
    make_figC3(["s"], [files["full"][1]], [files["linear"][1]], tmp_path / "t.csv",
               tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")


def test_joint_histogram_counts_and_clips() -> None:
    edges = np.array([0.0, 0.5, 1.0])
    blocks = [(np.array([0.1, 0.7]), np.array([0.2, 0.9])), (np.array([5.0]), np.array([-3.0]))]
    np.testing.assert_array_equal(joint_histogram(iter(blocks), edges), [[1, 0], [1, 1]])


def test_summary_table_is_one_row_per_study(tmp_path: Path) -> None:
    row = {"study": "a", "mem_threshold": 0.25, "infl_threshold": 0.15}
    keys = ["full_model_test_accuracy", "subset_models_test_accuracy",
            "subset_models_test_accuracy_sd", "linear_models_test_accuracy",
            "linear_models_test_accuracy_sd", "memorized_subset_models",
            "memorized_linear_models", "memorized_both", "mem_pearson", "mem_spearman",
            "pairs_subset_models", "pairs_linear_models", "pairs_both",
            "seconds_per_subset_model", "seconds_per_linear_model", "speed_ratio",
            "representation_seconds", "total_speed_ratio"]
    rows = [{**row, **dict.fromkeys(keys, 0.5)}, {**row, **dict.fromkeys(keys, 0.5),
                                                  "study": "b"}]
    tabulate_lastlayer(rows, tmp_path / "t.csv", tmp_path / "t.md")
    assert pd.read_csv(tmp_path / "t.csv")["study"].tolist() == ["a", "b"]
    assert "|  | a | b | paper (CIFAR-100, ResNet50) |" in (tmp_path / "t.md").read_text()
