"""The per-dataset HDF5 cache: one file with both splits, built once from verified originals
(``longtail.data.build``; this module needs no torch, so every reader works without it).

Cache layout (``resources/<dataset>.h5``: images, labels, original indices and class names of
both splits, content-hashed): docs/formats.md ("Dataset cache"). Written and read through
:mod:`longtail.store.h5`; a file without ``complete`` or with a changed byte is refused (DataError
naming the file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from longtail.store.h5 import create, read_attrs, write_attrs

from . import layout
from .errors import DataError

FORMAT_VERSION = 2  # 2: checksummed datasets, 'complete' marker
CACHE_ARRAYS = ("train_images", "train_labels", "train_index",
                "test_images", "test_labels", "test_index")


Batches = Iterable[tuple[np.ndarray, np.ndarray]]


@dataclass
class SplitSource:
    """One split to be written: its size, image shape, original indices and (images, labels)."""

    n: int
    image_shape: tuple[int, int, int]
    index: np.ndarray
    batches: Batches


@dataclass
class Converted:
    """Both splits of a dataset and its class names, ready to be written as a cache."""

    train: SplitSource
    test: SplitSource
    classes: list[str]


@dataclass
class DatasetCache:
    """Both splits of one dataset as stored in its cache file."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: list[str]
    train_index: np.ndarray
    test_index: np.ndarray
    content_hash: str
    dataset: str
    attrs: dict[str, Any] = field(default_factory=dict)


def _write_split(h5: h5py.File, prefix: str, split: SplitSource, num_classes: int,
                 dataset: str) -> None:
    images = layout.create_images(h5, f"{prefix}_images", split.n, split.image_shape)
    labels = np.empty(split.n, dtype=np.int64)
    filled = 0
    for batch_images, batch_labels in split.batches:
        end = filled + len(batch_images)
        if len(batch_labels) != len(batch_images):
            raise DataError(f"{dataset}: {prefix} split has {len(batch_images)} images but "
                            f"{len(batch_labels)} labels")
        if end > split.n:
            raise DataError(f"{dataset}: {prefix} split has more than {split.n} examples")
        if batch_images.shape[1:] != tuple(split.image_shape):
            raise DataError(f"{dataset}: {prefix} images have shape {batch_images.shape[1:]}, "
                            f"expected {tuple(split.image_shape)}")
        images[filled:end] = batch_images
        labels[filled:end] = batch_labels
        filled = end
    if filled != split.n or len(split.index) != split.n:
        raise DataError(f"{dataset}: {prefix} split has {filled} examples and {len(split.index)} "
                        f"original indices, expected {split.n}")
    if split.n and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{dataset}: {prefix} labels outside 0..{num_classes - 1}")
    layout.write_vector(h5, f"{prefix}_labels", labels, np.int64)
    layout.write_vector(h5, f"{prefix}_index", split.index, np.int64)


def write_cache(path: str | os.PathLike, dataset: str, data: Converted,
                attrs: Mapping[str, Any]) -> str:
    """Write a cache file atomically; return its content hash."""
    with create(path) as h5:
        _write_split(h5, "train", data.train, len(data.classes), dataset)
        _write_split(h5, "test", data.test, len(data.classes), dataset)
        layout.write_classes(h5, data.classes)
        digest = layout.content_hash(h5, CACHE_ARRAYS, data.classes)
        write_attrs(h5, {**attrs, "dataset": dataset, "content_hash": digest,
                              "format_version": FORMAT_VERSION})
    return digest


def read_cache(path: str | os.PathLike) -> DatasetCache:
    """Read a cache file; DataError naming it if it is unreadable or its content hash differs."""
    with layout.open_h5(path, "dataset cache") as h5:
        attrs = read_attrs(h5, DataError)
        arrays, classes = layout.read_all(h5, CACHE_ARRAYS, path, "dataset cache")
    if "content_hash" not in attrs or "dataset" not in attrs:
        raise DataError(f"{path}: dataset cache lacks its content_hash/dataset attributes")
    layout.verify_hash(arrays, CACHE_ARRAYS, classes, attrs["content_hash"], path, "dataset cache")
    attrs["sources"] = json.loads(attrs.get("sources", "{}"))
    return DatasetCache(**arrays, classes=classes, content_hash=attrs["content_hash"],
                        dataset=attrs["dataset"], attrs=attrs)
