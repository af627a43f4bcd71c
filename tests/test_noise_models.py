"""Class-conditional label noise (longtail.data.noise_models): known answers on tiny arrays, the
data layer's record of it, and the config's check of a transition matrix."""

from __future__ import annotations

import json

import fabricate as fab
import h5py
import numpy as np
import pytest

from longtail.config.errors import ConfigError
from longtail.config.study import derive_rng
from longtail.data import DataError, load_study_data, make_study_data
from longtail.data.noise_models import (
    NoiseModelError,
    check_matrix,
    confusable_classes,
    describe_noise,
    flip_by_matrix,
    flip_to_mapping,
    most_confused,
    noise_rate,
    ridge_predictions,
)
from longtail.workflow.checks import check_noise_model


def test_identity_matrix_flips_nothing_and_a_permutation_flips_everything():
    labels = np.array([0, 1, 2, 2, 1, 0])
    same, flipped = flip_by_matrix(labels, np.eye(3), derive_rng(0, 2))
    np.testing.assert_array_equal(same, labels)
    assert not flipped.any()
    shift = np.roll(np.eye(3), 1, axis=1)  # row c puts all its mass on c + 1
    noisy, flipped = flip_by_matrix(labels, shift, derive_rng(0, 2))
    np.testing.assert_array_equal(noisy, (labels + 1) % 3)
    assert flipped.all()


def test_matrix_rows_are_the_noisy_label_distributions():
    matrix = np.array([[0.7, 0.3, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    labels = np.repeat([0, 1, 2], 20_000)
    noisy, flipped = flip_by_matrix(labels, matrix, derive_rng(3, 2))
    for c in range(3):
        shares = np.bincount(noisy[labels == c], minlength=3) / 20_000
        np.testing.assert_allclose(shares, matrix[c], atol=0.01)
    np.testing.assert_array_equal(flipped, noisy != labels)
    assert noise_rate({"kind": "matrix", "matrix": matrix.tolist()}) == pytest.approx(0.8 / 3)


@pytest.mark.parametrize(("matrix", "words"), [
    ([[1.0, 0.0], [0.5, 0.4]], "row 1 sums to 0.9"),
    ([[1.0, 0.0], [-0.1, 1.1]], "row 1"),
    ([[0.2, 0.2, 0.2], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "row 0 sums to 0.6"),
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "shape (2, 3)"),
])
def test_bad_matrix_is_refused_naming_the_row(matrix, words):
    with pytest.raises(NoiseModelError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_matrix(matrix)
    with pytest.raises(ConfigError, match="studies.x.label_noise.matrix"):
        check_noise_model("studies.x", {"kind": "matrix", "matrix": matrix})


def test_matrix_of_the_wrong_size_for_the_dataset_is_refused():
    with pytest.raises(NoiseModelError, match="dataset has 3 classes"):
        check_matrix(np.eye(2), num_classes=3)


def test_most_confused_is_the_off_diagonal_argmax_lowest_on_ties():
    confusion = np.array([[50, 3, 7], [9, 40, 9], [0, 12, 30]])
    np.testing.assert_array_equal(most_confused(confusion), [2, 0, 1])


def test_flip_to_mapping_flips_round_rate_n_to_the_mapped_class():
    labels = np.arange(40) % 4
    mapping = np.array([1, 0, 3, 2])
    noisy, flipped = flip_to_mapping(labels, mapping, 0.25, derive_rng(0, 2))
    assert flipped.sum() == 10
    np.testing.assert_array_equal(noisy[flipped], mapping[labels[flipped]])
    np.testing.assert_array_equal(noisy[~flipped], labels[~flipped])
    again, _ = flip_to_mapping(labels, mapping, 0.25, derive_rng(0, 2))
    np.testing.assert_array_equal(again, noisy)


def test_ridge_separates_separable_points():
    x = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [0.9, 1.0]])
    y = np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(ridge_predictions(x, y, x, 2, ridge=1e-3), y)


def test_confusable_pairs_classes_that_share_pixels():
    """Classes 0 and 1 light the same pixel (with noise), class 2 another: 0 and 1 are each
    other's most confusable class, and 2 goes to whichever of them it is mistaken for."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    x = rng.integers(0, 60, (120, 3, 3, 1)).astype(np.uint8)
    x[labels < 2, 0, 0, 0] = 250
    x[labels == 1, 0, 1, 0] = rng.integers(0, 120, 40).astype(np.uint8)
    x[labels == 2, 2, 2, 0] = 250
    mapping, confusion = confusable_classes(x, labels, 3)
    assert mapping[0] == 1 and mapping[1] == 0
    assert confusion.sum() == 120 and confusion[0, 1] + confusion[1, 0] > 0
    again, _ = confusable_classes(x, labels, 3)
    np.testing.assert_array_equal(again, mapping)


def test_describe_noise():
    assert describe_noise(0.1) == "10% symmetric" and describe_noise(0.0) == "none"
    assert describe_noise({"kind": "confusable", "rate": 0.1}) == \
        "10% to the most confusable class"


@pytest.fixture
def cache_path(tmp_path):
    return fab.skewed_cache(tmp_path / "cache.h5")


def test_symmetric_study_data_is_unchanged_and_records_no_model(tmp_path, cache_path):
    out = tmp_path / "study.h5"
    make_study_data(cache_path, out, n_train=120, n_test=30, label_noise=0.2, seed=9)
    with h5py.File(out) as h5:
        assert "label_noise_model" not in h5.attrs


def test_confusable_study_data_records_the_mapping(tmp_path, cache_path):
    out = tmp_path / "study.h5"
    make_study_data(cache_path, out, n_train=120, n_test=30,
                    label_noise={"kind": "confusable", "rate": 0.1}, seed=9)
    study = load_study_data(out)
    assert study.label_noise == 0.1 and study.train_label_flipped.sum() == 12
    with h5py.File(out) as h5:
        record = json.loads(h5.attrs["label_noise_model"])
    mapping = np.array(record["mapping"])
    assert record["kind"] == "confusable" and (mapping != np.arange(6)).all()
    flipped = study.train_label_flipped
    np.testing.assert_array_equal(study.y_train[flipped], mapping[study.y_train_clean[flipped]])
    np.testing.assert_array_equal(flipped, study.y_train != study.y_train_clean)


def test_matrix_study_data_and_a_matrix_of_the_wrong_size(tmp_path, cache_path):
    shift = np.roll(np.eye(6), 1, axis=1).tolist()
    out = tmp_path / "study.h5"
    make_study_data(cache_path, out, n_train=60, n_test=30,
                    label_noise={"kind": "matrix", "matrix": shift}, seed=1)
    study = load_study_data(out)
    np.testing.assert_array_equal(study.y_train, (study.y_train_clean + 1) % 6)
    with pytest.raises(DataError, match="dataset has 6 classes"):
        make_study_data(cache_path, tmp_path / "bad.h5", n_train=60, n_test=30,
                        label_noise={"kind": "matrix", "matrix": np.eye(3).tolist()}, seed=1)


@pytest.mark.parametrize(("noise", "ok"), [
    (0.1, True),
    ({"kind": "confusable", "rate": 0.1}, True),
    ({"kind": "matrix", "matrix": [[0.9, 0.1], [0.2, 0.8]]}, True),
    ({"kind": "confusable"}, False),
    ({"kind": "confusable", "rate": 1.0}, False),
    ({"kind": "matrix", "matrix": [[0.9, 0.1], [0.2, 1.5]]}, False),
    ({"kind": "symmetric", "rate": 0.1}, False),
])
def test_schema_accepts_a_rate_or_one_of_the_models(noise, ok):
    from test_config import ROOT, checked, load
    config = load(ROOT / "tests" / "config" / "tiny.yaml")
    config["studies"]["tiny"]["label_noise"] = noise
    if ok:
        assert checked(config)["studies"]["tiny"]["label_noise"] == noise
    else:
        with pytest.raises(ConfigError, match="label_noise"):
            checked(config)


def test_config_names_the_bad_matrix_row():
    from test_config import ROOT, checked, load
    config = load(ROOT / "tests" / "config" / "tiny.yaml")
    config["studies"]["tiny"]["label_noise"] = {"kind": "matrix",
                                                "matrix": [[0.5, 0.5], [0.3, 0.3]]}
    with pytest.raises(ConfigError, match=r"studies.tiny.label_noise.matrix row 1 sums to 0.6"):
        checked(config)
