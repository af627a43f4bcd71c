"""Study data: stratified seeded subsamples and seeded label noise, with provenance."""

from __future__ import annotations

from pathlib import Path

import fabricate as fab
import h5py
import numpy as np
import pytest

from longtail.config.study import derive_rng
from longtail.data import DataError, load_study_data, make_study_data, read_cache
from longtail.data.build import build_cache
from longtail.data.study_data import flip_labels, stratified_counts, stratified_sample

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("seed", range(6))
def test_stratified_counts_are_largest_remainder(seed):
    labels = fab.skewed_labels(997, 7, seed)
    n = 100 + 37 * seed
    counts = stratified_counts(labels, n, derive_rng(seed, 0))
    classes, sizes = np.unique(labels, return_counts=True)
    quota = n * sizes / sizes.sum()
    got = np.array([counts[int(c)] for c in classes])
    assert got.sum() == n
    assert np.all((got == np.floor(quota)) | (got == np.floor(quota) + 1))
    # the classes rounded up are exactly those with the largest remainders
    remainder = quota - np.floor(quota)
    up = got > np.floor(quota)
    if up.any() and (~up).any():
        assert remainder[up].min() >= remainder[~up].max() - 1e-12


def test_ties_are_broken_by_seed_not_class_order():
    labels = np.repeat(np.arange(10), 10)
    winners = {tuple(sorted(k for k, v in stratified_counts(labels, 15, derive_rng(s, 0)).items()
                            if v == 2)) for s in range(20)}
    assert len(winners) > 1
    assert all(len(w) == 5 for w in winners)


def test_stratified_sample_draws_within_classes():
    labels = fab.skewed_labels(500, 5, 1)
    idx = stratified_sample(labels, 60, derive_rng(3, 0))
    assert len(idx) == 60 and len(np.unique(idx)) == 60 and np.all(np.diff(idx) > 0)
    counts = stratified_counts(labels, 60, derive_rng(3, 0))
    assert {int(c): int((labels[idx] == c).sum()) for c in np.unique(labels)} == counts
    np.testing.assert_array_equal(idx, stratified_sample(labels, 60, derive_rng(3, 0)))
    assert not np.array_equal(idx, stratified_sample(labels, 60, derive_rng(4, 0)))
    np.testing.assert_array_equal(stratified_sample(labels, None, derive_rng(3, 0)),
                                  np.arange(500))


@pytest.mark.parametrize(("n", "noise"), [(100, 0.1), (101, 0.25), (7, 0.5), (50, 0.0),
                                          (1000, 0.333)])
def test_flip_labels_flips_exactly_round_noise_n(n, noise):
    labels = np.arange(n) % 10
    noisy, flipped = flip_labels(labels, 10, noise, derive_rng(5, 2))
    assert flipped.sum() == round(noise * n)
    assert np.all(noisy[flipped] != labels[flipped])
    np.testing.assert_array_equal(noisy[~flipped], labels[~flipped])
    assert noisy.min() >= 0 and noisy.max() < 10


def test_flip_labels_is_seeded_and_reaches_every_other_class():
    labels = np.zeros(4000, dtype=np.int64)
    a = flip_labels(labels, 5, 0.5, derive_rng(1, 2))
    b = flip_labels(labels, 5, 0.5, derive_rng(1, 2))
    c = flip_labels(labels, 5, 0.5, derive_rng(2, 2))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert set(np.unique(a[0][a[1]]).tolist()) == {1, 2, 3, 4}


@pytest.mark.parametrize("noise", [-0.1, 1.0])
def test_flip_labels_rejects_bad_fraction(noise):
    with pytest.raises(DataError, match="label_noise"):
        flip_labels(np.zeros(5, dtype=np.int64), 3, noise, derive_rng(0, 2))


@pytest.fixture
def cache_path(tmp_path):
    return fab.skewed_cache(tmp_path / "cache.h5")


def test_make_study_data_records_provenance(tmp_path, cache_path):
    out = tmp_path / "study.h5"
    make_study_data(cache_path, out, n_train=120, n_test=30, label_noise=0.2, seed=9)
    study, cache = load_study_data(out), read_cache(cache_path)
    assert study.x_train.shape == (120, 4, 4, 1) and study.x_test.shape == (30, 4, 4, 1)
    assert study.dataset == "mnist" and study.content_hash == cache.content_hash
    assert study.classes == cache.classes
    pos = (study.train_source_index - 7) // 3  # fabricate's original indices are 3 i + 7
    np.testing.assert_array_equal(study.x_train, cache.train_images[pos])
    np.testing.assert_array_equal(study.y_train_clean, cache.train_labels[pos])
    test_pos = (study.test_source_index - 7) // 3
    np.testing.assert_array_equal(study.x_test, cache.test_images[test_pos])
    np.testing.assert_array_equal(study.y_test, cache.test_labels[test_pos])
    assert study.train_label_flipped.sum() == 24
    np.testing.assert_array_equal(study.train_label_flipped, study.y_train != study.y_train_clean)
    quota = 120 * np.bincount(cache.train_labels, minlength=6) / 300
    assert np.all(np.abs(np.bincount(study.y_train_clean, minlength=6) - quota) < 1)
    assert study.label_noise == 0.2 and study.seed == 9


def test_make_study_data_is_deterministic_and_noise_independent(tmp_path, cache_path):
    paths = {}
    for key, noise, seed in (("a", 0.1, 3), ("b", 0.1, 3), ("c", 0.3, 3), ("d", 0.1, 4)):
        paths[key] = tmp_path / f"{key}.h5"
        make_study_data(cache_path, paths[key], n_train=100, n_test=None, label_noise=noise,
                        seed=seed)
    a, b, c, d = (load_study_data(paths[k]) for k in "abcd")
    assert a.data_hash == b.data_hash
    np.testing.assert_array_equal(a.train_source_index, c.train_source_index)
    assert not np.array_equal(a.y_train, c.y_train)
    assert not np.array_equal(a.train_source_index, d.train_source_index)
    assert len(a.y_test) == 90


@pytest.mark.parametrize(("n_train", "n_test", "word", "size"),
                         [(301, None, "n_train", 300), (None, 91, "n_test", 90),
                          (0, None, "n_train", 300)])
def test_sample_larger_than_split_is_refused(tmp_path, cache_path, n_train, n_test, word, size):
    with pytest.raises(DataError, match=word) as err:
        make_study_data(cache_path, tmp_path / "s.h5", n_train=n_train, n_test=n_test,
                        label_noise=0.0, seed=0)
    assert str(size) in str(err.value)
    assert not (tmp_path / "s.h5").exists()


def test_corrupt_cache_makes_no_study(tmp_path, cache_path):
    with h5py.File(cache_path, "r+") as h5:
        h5["train_labels"][0] = (h5["train_labels"][0] + 1) % 6
    with pytest.raises(DataError, match="content hash"):
        make_study_data(cache_path, tmp_path / "s.h5", n_train=10, n_test=10, label_noise=0.0,
                        seed=0)
    assert not (tmp_path / "s.h5").exists()


def test_changed_study_file_is_refused(tmp_path, cache_path):
    out = tmp_path / "s.h5"
    make_study_data(cache_path, out, n_train=50, n_test=20, label_noise=0.1, seed=0)
    with h5py.File(out, "r+") as h5:
        h5["train_label_flipped"][0] = ~h5["train_label_flipped"][0]
    with pytest.raises(DataError, match="content hash") as err:
        load_study_data(out)
    assert str(out) in str(err.value)


@pytest.mark.skipif(not DEBIAN.is_dir(),
                    reason=f"{DEBIAN} missing (Debian package dataset-fashion-mnist)")
def test_study_from_debian_fashion_mnist(tmp_path):
    cache = tmp_path / "fashion-mnist.h5"
    build_cache("fashion-mnist", cache, download_dir=tmp_path / "dl", allow_download=False)
    make_study_data(cache, tmp_path / "s.h5", n_train=1000, n_test=200, label_noise=0.1, seed=0)
    study = load_study_data(tmp_path / "s.h5")
    assert study.x_train.shape == (1000, 28, 28, 1) and study.x_train.dtype == np.uint8
    assert study.x_test.shape == (200, 28, 28, 1)
    assert len(study.classes) == 10 and study.classes[0] == "T-shirt/top"
    assert np.bincount(study.y_train_clean).tolist() == [100] * 10
    assert np.bincount(study.y_test).tolist() == [20] * 10
    assert study.train_label_flipped.sum() == 100
    assert study.train_source_index.max() < 60000
