"""The cache file: content hash written on build, checked on every read."""

from __future__ import annotations

import fabricate as fab
import h5py
import numpy as np
import pytest

from longtail.data import DataError, read_cache
from longtail.data.cache import CACHE_ARRAYS
from longtail.data.layout import content_hash


@pytest.fixture
def cache_path(tmp_path):
    path = tmp_path / "cache.h5"
    fab.synthetic_cache(path, np.arange(40) % 4, np.arange(12) % 4, num_classes=4)
    return path


def test_round_trip(cache_path):
    cache = read_cache(cache_path)
    assert cache.train_images.shape == (40, 4, 4, 1) and cache.train_images.dtype == np.uint8
    assert cache.train_labels.dtype == np.int64 and cache.train_index.dtype == np.int64
    assert cache.classes == ["c0", "c1", "c2", "c3"]
    assert cache.content_hash.startswith("sha256:")
    assert cache.content_hash == content_hash(vars(cache), CACHE_ARRAYS, cache.classes)


@pytest.mark.parametrize("name", ["train_images", "test_images", "train_labels", "test_index"])
def test_changed_content_is_refused(cache_path, name):
    with h5py.File(cache_path, "r+") as h5:
        data = h5[name][()]
        data.flat[0] = data.flat[0] + 1
        h5[name][...] = data
    with pytest.raises(DataError, match="content hash") as err:
        read_cache(cache_path)
    assert str(cache_path) in str(err.value)


def test_changed_class_names_are_refused(cache_path):
    with h5py.File(cache_path, "r+") as h5:
        del h5["classes"]
        h5.create_dataset("classes", data=np.array(["c0", "c1", "c3", "c2"],
                                                   dtype=h5py.string_dtype()))
    with pytest.raises(DataError, match="content hash"):
        read_cache(cache_path)


def test_missing_array_is_refused(cache_path):
    with h5py.File(cache_path, "r+") as h5:
        del h5["test_labels"]
    with pytest.raises(DataError, match="test_labels"):
        read_cache(cache_path)


def test_not_hdf5_is_refused(tmp_path):
    path = tmp_path / "cache.h5"
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(DataError, match="not a readable dataset cache") as err:
        read_cache(path)
    assert str(path) in str(err.value)


def test_hash_depends_on_order_shape_and_dtype():
    a = {"x": np.arange(6, dtype=np.int64)}
    base = content_hash(a, ["x"], ["c"])
    assert content_hash({"x": a["x"][::-1].copy()}, ["x"], ["c"]) != base
    assert content_hash({"x": a["x"].reshape(2, 3)}, ["x"], ["c"]) != base
    assert content_hash({"x": a["x"].astype(np.int32)}, ["x"], ["c"]) != base
    assert content_hash(a, ["x"], ["d"]) != base
    assert content_hash({"x": np.arange(6, dtype=np.int64)}, ["x"], ["c"]) == base
