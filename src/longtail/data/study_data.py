"""Per-study data: stratified seeded subsamples of a dataset cache, then seeded label noise.

Study file layout (``<study>/data.h5``: the subsample's images, labels trained on, clean
labels, original indices and flipped flags): docs/formats.md ("Study data"). Written and read
through :mod:`longtail.store.h5`; a file without ``complete`` or with a changed byte is refused
(DataError naming the file).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from longtail.config.study import derive_rng
from longtail.store.h5 import create, read, read_attrs, read_strings, write_attrs

from . import layout
from .cache import read_cache
from .errors import DataError
from .noise_models import NoiseModelError, apply_class_noise, noise_rate, noise_record_json

STUDY_ARRAYS = ("x_train", "y_train", "y_train_clean", "train_source_index",
                "train_label_flipped", "x_test", "y_test", "test_source_index")
_VECTOR_DTYPES = {"y_train": np.int64, "y_train_clean": np.int64,
                  "train_source_index": np.int64, "train_label_flipped": np.bool_,
                  "y_test": np.int64, "test_source_index": np.int64}
# Independent random streams per purpose: changing label_noise never changes the subsample.
_TRAIN_STREAM, _TEST_STREAM, _NOISE_STREAM = 0, 1, 2


@dataclass
class StudyData:
    """The examples one study trains and tests on, with provenance and label noise recorded."""

    x_train: np.ndarray
    y_train: np.ndarray
    y_train_clean: np.ndarray
    train_source_index: np.ndarray
    train_label_flipped: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_source_index: np.ndarray
    classes: list[str]
    dataset: str
    content_hash: str
    data_hash: str = ""
    label_noise: float = 0.0
    seed: int = 0


def stratified_counts(labels: np.ndarray, n: int, rng: np.random.Generator) -> dict[int, int]:
    """Per-class sample sizes proportional to class frequency, by largest remainder.

    Each class gets floor(n * c_k / N) and the classes with the largest remainders one more;
    ties between equal remainders are broken by ``rng``.
    """
    classes, counts = np.unique(labels, return_counts=True)
    total = int(counts.sum())
    base, remainder = np.divmod(n * counts.astype(np.int64), total)
    order = np.lexsort((rng.permutation(len(classes)), -remainder))
    base[order[:n - int(base.sum())]] += 1
    return {int(c): int(k) for c, k in zip(classes, base, strict=True)}


def stratified_sample(labels: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a stratified sample of size ``n`` (None: all) drawn with ``rng``."""
    size = len(labels)
    if n is None:
        return np.arange(size, dtype=np.int64)
    if not 1 <= n <= size:
        raise DataError(f"sample size {n} is outside 1..{size}, the number of examples")
    picks = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
             for c, k in stratified_counts(labels, n, rng).items()]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def flip_labels(labels: np.ndarray, num_classes: int, fraction: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flip round(fraction * n) labels, chosen by ``rng``, each to a different random class.

    ``round`` is Python's (halves go to the even count). Each flipped label moves to one of
    the other ``num_classes - 1`` classes uniformly. Returns the noisy labels and the boolean
    mask of flipped examples.
    """
    if not 0 <= fraction < 1:
        raise DataError(f"label_noise={fraction} is outside [0, 1)")
    n = len(labels)
    count = round(fraction * n)
    if count and num_classes < 2:
        raise DataError("label noise needs at least two classes")
    chosen = rng.choice(n, size=count, replace=False)
    noisy = np.array(labels, dtype=np.int64, copy=True)
    noisy[chosen] = (noisy[chosen] + rng.integers(1, num_classes, size=count)) % num_classes
    flipped = np.zeros(n, dtype=np.bool_)
    flipped[chosen] = True
    return noisy, flipped


def make_study_data(cache_path: str | os.PathLike, out_path: str | os.PathLike, *,
                    n_train: int | None, n_test: int | None, label_noise: Any,
                    seed: int) -> None:
    """Subsample a verified cache (stratified, seeded), add label noise, write atomically.

    ``label_noise``: a rate (symmetric, :func:`flip_labels`) or a class-conditional model
    (:mod:`longtail.data.noise_models`, recorded in the attribute ``label_noise_model``)."""
    model = label_noise if isinstance(label_noise, Mapping) else None
    label_noise = noise_rate(label_noise)
    if model is None and not 0 <= label_noise < 1:
        raise DataError(f"label_noise={label_noise} is outside [0, 1)")
    cache = read_cache(cache_path)
    for name, n, labels, split in (("n_train", n_train, cache.train_labels, "train"),
                                   ("n_test", n_test, cache.test_labels, "test")):
        if n is not None and not 1 <= n <= len(labels):
            raise DataError(f"{name}={n}, but the {split} split of {cache.dataset} "
                            f"({cache_path}) has {len(labels)} examples; use 1..{len(labels)} "
                            "or null for all")
    train = stratified_sample(cache.train_labels, n_train, derive_rng(seed, _TRAIN_STREAM))
    test = stratified_sample(cache.test_labels, n_test, derive_rng(seed, _TEST_STREAM))
    y_clean = cache.train_labels[train]
    record = {}
    if model is None:
        y_noisy, flipped = flip_labels(y_clean, len(cache.classes), label_noise,
                                       derive_rng(seed, _NOISE_STREAM))
    else:
        try:
            y_noisy, flipped, noise = apply_class_noise(
                model, cache.train_images[train], y_clean, len(cache.classes),
                derive_rng(seed, _NOISE_STREAM))
        except NoiseModelError as err:
            raise DataError(str(err)) from None
        record = {"label_noise_model": noise_record_json(noise)}
    arrays = {"x_train": cache.train_images[train], "y_train": y_noisy, "y_train_clean": y_clean,
              "train_source_index": cache.train_index[train], "train_label_flipped": flipped,
              "x_test": cache.test_images[test], "y_test": cache.test_labels[test],
              "test_source_index": cache.test_index[test]}
    with create(out_path) as h5:
        for name in ("x_train", "x_test"):
            images = layout.create_images(h5, name, len(arrays[name]), arrays[name].shape[1:])
            images[...] = arrays[name]
        for name, dtype in _VECTOR_DTYPES.items():
            layout.write_vector(h5, name, arrays[name], dtype)
        layout.write_classes(h5, cache.classes)
        write_attrs(h5, {
            "dataset": cache.dataset, "content_hash": cache.content_hash,
            "data_hash": layout.content_hash(h5, STUDY_ARRAYS, cache.classes),
            "n_train": -1 if n_train is None else n_train,
            "n_test": -1 if n_test is None else n_test,
            "label_noise": float(label_noise), "seed": int(seed), **record})


def load_study_data(path: str | os.PathLike) -> StudyData:
    """Read a study data file; DataError naming it if unreadable or its data hash differs."""
    with layout.open_h5(path, "study data file") as h5:
        attrs = read_attrs(h5, DataError)
        arrays, classes = layout.read_all(h5, STUDY_ARRAYS, path, "study data file")
    missing = [key for key in ("dataset", "content_hash", "data_hash") if key not in attrs]
    if missing:
        raise DataError(f"{path}: study data file lacks attributes {missing}")
    layout.verify_hash(arrays, STUDY_ARRAYS, classes, attrs["data_hash"], path, "study data file")
    return StudyData(**arrays, classes=classes, dataset=attrs["dataset"],
                     content_hash=attrs["content_hash"], data_hash=attrs["data_hash"],
                     label_noise=float(attrs.get("label_noise", 0.0)),
                     seed=int(attrs.get("seed", 0)))


def read_study_images(path: str | os.PathLike, split: str, indices: np.ndarray) -> np.ndarray:
    """Images ``indices`` of the study's ``split`` (train | test) as stored, (k, H, W, C)
    uint8, reading only those rows of the study data file (for figures of a few examples)."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    with layout.open_h5(path, "study data file") as h5:
        if not len(indices):
            return np.zeros((0, *h5[f"x_{split}"].shape[1:]), dtype=np.uint8)
        unique, inverse = np.unique(indices, return_inverse=True)
        images = read(h5, f"x_{split}", path, DataError, unique)
    return np.asarray(images, dtype=np.uint8)[inverse]


def read_class_names(path: str | os.PathLike) -> list[str]:
    """The study's class names, in label order."""
    with layout.open_h5(path, "study data file") as h5:
        return read_strings(h5, "classes", path, DataError)
