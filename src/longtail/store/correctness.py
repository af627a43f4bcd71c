"""The correctness store: the one place that defines the HDF5 schema of trial shards and of
``results/{study}/correctness.h5``. Every reader and writer goes through this module.

Schema (public contract): docs/formats.md ("Correctness store", "Trial shard"), the one
description of every dataset (shape, dtype, meaning, default when absent) and attribute; this
module implements it. Files are written
and read through :mod:`longtail.store.h5`: every dataset carries a Fletcher-32 checksum and the
``complete`` attribute is written last.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from longtail.errors import LongtailError
from longtail.store.h5 import (
    check_complete,
    create,
    create_dataset,
    open_file,
    read,
    read_attrs,
    write_attrs,
)

PER_TRIAL = ("trial", "trial_seed", "mask", "train_correct", "test_correct",
             "test_accuracy", "wall_time", "diverged")
# Per-trial datasets a store may lack: written when known, derived or left out otherwise.
OPTIONAL_PER_TRIAL = ("subset_accuracy", "train_prediction")
PER_EXAMPLE = ("train_labels", "test_labels", "train_source_index", "test_source_index",
               "train_label_flipped")
REQUIRED_ATTRS = ("dataset", "arch", "n", "n_test", "subset_size", "fingerprint")
# What a store must hold to be read (a user's own store may hold only these); every other
# dataset has the default below ("index": 0, 1, 2, ...; test_accuracy: the row mean of
# test_correct) and every attribute the one of store_attr_defaults (docs/formats.md).
REQUIRED_DATASETS = ("mask", "train_correct", "test_correct", "train_labels", "test_labels")
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "trial": "index", "trial_seed": -1, "test_accuracy": "row mean", "wall_time": np.nan,
    "diverged": False, "train_source_index": "index", "test_source_index": "index",
    "train_label_flipped": False,
}
_DTYPES = {
    "trial": np.int64, "trial_seed": np.int64, "mask": np.bool_, "train_correct": np.bool_,
    "test_correct": np.bool_, "test_accuracy": np.float64, "wall_time": np.float64,
    "diverged": np.bool_, "train_labels": np.int64, "test_labels": np.int64,
    "train_source_index": np.int64, "test_source_index": np.int64,
    "train_label_flipped": np.bool_, "subset_accuracy": np.float64,
    "train_prediction": np.int16,
}


def store_attr_defaults(n: int, n_test: int, subset_size: int) -> dict[str, Any]:
    """Attributes of a store that does not record them (a user's own store)."""
    return {"dataset": "custom", "arch": "custom", "n": n, "n_test": n_test,
            "subset_size": subset_size, "fingerprint": ""}


class StoreError(LongtailError, ValueError):
    """A shard or store is unreadable, incomplete or belongs to another study."""


@dataclass
class TrialResults:
    """Per-trial outputs of Algorithm 1, lines 1-3, for trials ``trial`` (a shard or a store)."""

    trial: np.ndarray
    trial_seed: np.ndarray
    mask: np.ndarray
    train_correct: np.ndarray
    test_correct: np.ndarray
    test_accuracy: np.ndarray
    wall_time: np.ndarray
    diverged: np.ndarray
    subset_accuracy: np.ndarray | None = None
    train_prediction: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in PER_TRIAL:
            setattr(self, name, np.asarray(getattr(self, name), dtype=_DTYPES[name]))
        if self.subset_accuracy is None and self.mask.ndim == 2 and \
                self.train_correct.shape == self.mask.shape:
            self.subset_accuracy = fit_on_subset(self.mask, self.train_correct)
        for name in OPTIONAL_PER_TRIAL:
            if getattr(self, name) is not None:
                setattr(self, name, np.asarray(getattr(self, name), dtype=_DTYPES[name]))
        t = len(self.trial)
        n = self.mask.shape[1] if self.mask.ndim == 2 else -1
        expected = {"mask": (t, n), "train_correct": (t, n), "train_prediction": (t, n),
                    "test_correct": (t, self.test_correct.shape[-1])}
        for name in self.present():
            shape = getattr(self, name).shape
            want = expected.get(name, (t,))
            if shape != want or (name in expected and len(shape) != 2):
                raise StoreError(f"{name} has shape {shape}, expected {want}")

    def present(self) -> tuple[str, ...]:
        """Names of the per-trial datasets this result holds (required ones first)."""
        return PER_TRIAL + tuple(name for name in OPTIONAL_PER_TRIAL
                                 if getattr(self, name) is not None)

    def take(self, rows: np.ndarray | slice) -> TrialResults:
        """The trials ``rows`` (indices, mask or slice), every dataset held."""
        return TrialResults(**{name: getattr(self, name)[rows] for name in self.present()})

    @classmethod
    def concatenate(cls, parts: Sequence[TrialResults]) -> TrialResults:
        """Trials of all parts in order; an optional dataset survives only if every part
        holds it."""
        names = [name for name in parts[0].present()
                 if all(getattr(p, name) is not None for p in parts)]
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts])
                      for name in names})


def fit_on_subset(mask: np.ndarray, train_correct: np.ndarray) -> np.ndarray:
    """(t,) accuracy of each h_k on its own subset I_k: the share of its training set it fits
    (Section 1: standard training fits 95-100% of it). NaN for an empty subset."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (mask & train_correct).sum(1) / mask.sum(1)


@dataclass
class CorrectnessStore:
    """Everything the estimators read: trials plus per-example labels and provenance."""

    trials: TrialResults
    train_labels: np.ndarray
    test_labels: np.ndarray
    train_source_index: np.ndarray
    test_source_index: np.ndarray
    train_label_flipped: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        return self.trials.mask

    @property
    def train_correct(self) -> np.ndarray:
        return self.trials.train_correct

    @property
    def test_correct(self) -> np.ndarray:
        return self.trials.test_correct

    @property
    def valid_trials(self) -> np.ndarray:
        """Boolean (t,): trials that trained without diverging."""
        return ~self.trials.diverged


# ---------------------------------------------------------------- a store from arrays

def _bool2d(name: str, array: Any) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (trials x examples), got shape {array.shape}")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be boolean (or 0/1)")
    return array.astype(bool)


def _labels(name: str, labels: Any, size: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (size,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be ({size},) integers, got shape {labels.shape}, "
                         f"dtype {labels.dtype}")
    return labels.astype(np.int64)


def store_from_arrays(mask: Any, train_correct: Any, test_correct: Any, train_labels: Any,
                      test_labels: Any, *, diverged: Any = None, train_source_index: Any = None,
                      test_source_index: Any = None, flipped: Any = None,
                      attrs: dict[str, Any] | None = None) -> CorrectnessStore:
    """A correctness store in memory from the five required arrays, every other dataset and
    attribute at its documented default (docs/formats.md); shapes are checked."""
    mask = _bool2d("mask", mask)
    train_correct = _bool2d("train_correct", train_correct)
    test_correct = _bool2d("test_correct", test_correct)
    t, n = mask.shape
    if train_correct.shape != (t, n) or len(test_correct) != t:
        raise ValueError(f"mask {mask.shape}, train_correct {train_correct.shape} and "
                         f"test_correct {test_correct.shape} must have the same trials (rows) "
                         f"and mask/train_correct the same examples (columns)")
    n_test = test_correct.shape[1]
    diverged = np.zeros(t, bool) if diverged is None else np.asarray(diverged, bool)
    if diverged.shape != (t,):
        raise ValueError(f"diverged must be ({t},) bool, got shape {diverged.shape}")
    trials = TrialResults(
        trial=np.arange(t), trial_seed=np.full(t, -1), mask=mask, train_correct=train_correct,
        test_correct=test_correct,
        test_accuracy=test_correct.mean(axis=1) if n_test else np.full(t, np.nan),
        wall_time=np.full(t, np.nan), diverged=diverged)
    subset = int(np.median(mask.sum(axis=1))) if t else 0
    return CorrectnessStore(
        trials=trials, train_labels=_labels("train_labels", train_labels, n),
        test_labels=_labels("test_labels", test_labels, n_test),
        train_source_index=np.arange(n) if train_source_index is None
        else _labels("train_source_index", train_source_index, n),
        test_source_index=np.arange(n_test) if test_source_index is None
        else _labels("test_source_index", test_source_index, n_test),
        train_label_flipped=np.zeros(n, bool) if flipped is None else np.asarray(flipped, bool),
        attrs={**store_attr_defaults(n, n_test, subset), **(attrs or {})})


def _write_array(file: h5py.File, name: str, data: np.ndarray) -> None:
    data = np.asarray(data, dtype=_DTYPES[name])
    if data.ndim == 2 and data.size:  # 64 trials x up to 16384 examples: 1 MiB of bool
        chunks = (min(len(data), 64), min(data.shape[1], 16384))
        create_dataset(file, name, data, chunks=chunks, compression="gzip",
                       compression_opts=4, shuffle=True)
    else:
        create_dataset(file, name, data)


def write_shard(path: str | os.PathLike, results: TrialResults, attrs: dict[str, Any]) -> None:
    """Write one shard of trials atomically (temp file, then rename; ``complete`` last)."""
    _check_attrs(attrs, path)
    with create(path) as file:
        for name in results.present():
            _write_array(file, name, getattr(results, name))
        write_attrs(file, attrs)


def _check_attrs(attrs: dict[str, Any], path: str | os.PathLike) -> None:
    missing = [key for key in REQUIRED_ATTRS if key not in attrs]
    if missing:
        raise StoreError(f"{path}: missing attributes {missing}")


def _read_datasets(file: h5py.File, names: Sequence[str], path: str | os.PathLike) -> dict:
    missing = [name for name in names if name not in file]
    if missing:
        raise StoreError(f"{path}: missing datasets {missing}")
    return {name: read(file, name, path, StoreError) for name in names}


def read_shard(path: str | os.PathLike) -> tuple[TrialResults, dict[str, Any]]:
    """Read a shard; refuse a file that is incomplete, corrupt or has inconsistent shapes."""
    with open_file(path, StoreError, "HDF5 file") as file:
        attrs = read_attrs(file, StoreError)
        _check_attrs(attrs, path)
        data = _read_datasets(file, PER_TRIAL + tuple(name for name in OPTIONAL_PER_TRIAL
                                                      if name in file), path)
    try:
        results = TrialResults(**data)
    except StoreError as err:
        raise StoreError(f"{path}: {err}") from err
    if results.mask.shape[1] != attrs["n"] or results.test_correct.shape[1] != attrs["n_test"]:
        raise StoreError(f"{path}: arrays cover n={results.mask.shape[1]}, "
                         f"n_test={results.test_correct.shape[1]} but attributes say "
                         f"n={attrs['n']}, n_test={attrs['n_test']}")
    return results, attrs


def shard_precision(shard_paths: Sequence[str | os.PathLike]) -> str | None:
    """The precision (``bf16`` | ``fp32``) the shards' models trained in, from their attributes
    (None for shards written before it was recorded); refuse shards of mixed precision, which
    ``precision: auto`` gives when shards are trained on machines with and without native bf16."""
    seen: dict[str, str | os.PathLike] = {}
    for path in shard_paths:
        with open_file(path, StoreError, "HDF5 file") as file:
            precision = read_attrs(file, StoreError).get("precision")
        if precision is not None:
            seen.setdefault(str(precision), path)
    if len(seen) > 1:
        (a, path_a), (b, path_b) = list(seen.items())[:2]
        raise StoreError(f"{path_a} was trained in {a} and {path_b} in {b}: one study's models "
                         f"must share a precision (precision: auto resolves per machine); set "
                         f"train.precision explicitly, or delete the shards of one kind")
    return next(iter(seen), None)


def aggregate_shards(shard_paths: Sequence[str | os.PathLike], fingerprint: str,
                     data_hash: str | None = None) -> TrialResults:
    """Concatenate shards in trial order; refuse foreign, overlapping or duplicate trials, and
    (given ``data_hash``) shards trained on another data file of the same config."""
    parts, seen = [], {}
    first: tuple[str | os.PathLike, tuple[int, int]] | None = None  # path and (n, n_test)
    for path in shard_paths:
        results, attrs = read_shard(path)
        if attrs["fingerprint"] != fingerprint:
            raise StoreError(f"{path}: shard belongs to another dataset/config (fingerprint "
                             f"{attrs['fingerprint']}, this study has {fingerprint})")
        if data_hash is not None and attrs.get("data_hash", data_hash) != data_hash:
            raise StoreError(f"{path}: shard was trained on other data (data_hash "
                             f"{attrs['data_hash']}, this study's data file has {data_hash}); "
                             f"delete it to retrain")
        shape = (attrs["n"], attrs["n_test"])
        if first is None:
            first = (path, shape)
        elif shape != first[1]:
            raise StoreError(f"{path}: arrays cover n={shape[0]}, n_test={shape[1]} but "
                             f"{first[0]} has n={first[1][0]}, n_test={first[1][1]}")
        for k in results.trial.tolist():
            if k in seen:
                raise StoreError(f"{path}: trial {k} is also in {seen[k]} (duplicate trial id)")
            seen[k] = path
        parts.append(results)
    if not parts:
        raise StoreError("no shards to aggregate")
    merged = TrialResults.concatenate(parts)
    return merged.take(np.argsort(merged.trial, kind="stable"))


def write_store(path: str | os.PathLike, store: CorrectnessStore) -> None:
    """Write ``correctness.h5`` atomically in the schema above (``complete`` last)."""
    _check_attrs(store.attrs, path)
    with create(path) as file:
        for name in store.trials.present():
            _write_array(file, name, getattr(store.trials, name))
        for name in PER_EXAMPLE:
            _write_array(file, name, getattr(store, name))
        write_attrs(file, store.attrs)


class StoreReader:
    """A correctness store opened for reading, its shapes checked against the schema on open;
    arrays are read whole or in blocks of trials (stores at ImageNet scale do not fit in
    memory as a whole)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self.h5 = open_file(path, StoreError, complete=False)
        try:
            if self.h5.attrs.get("fingerprint"):  # written by this project, not a user's own
                check_complete(self.h5, path, StoreError, "correctness store")
            self.t, self.n, self.n_test = self._check_shapes()
        except BaseException:
            self.h5.close()
            raise

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.h5.close()

    def _check_shapes(self) -> tuple[int, int, int]:
        h5, path = self.h5, self.path
        missing = [name for name in REQUIRED_DATASETS if name not in h5]
        if missing:
            raise StoreError(f"{path}: missing datasets {missing} (required: "
                             f"{', '.join(REQUIRED_DATASETS)})")
        if h5["mask"].ndim != 2 or h5["test_correct"].ndim != 2:
            raise StoreError(f"{path}: mask has shape {h5['mask'].shape} and test_correct "
                             f"{h5['test_correct'].shape}; both must be 2-D (t, n), (t, n_test)")
        t, n = h5["mask"].shape
        n_test = h5["test_correct"].shape[1]
        expected = {"mask": (t, n), "train_correct": (t, n), "test_correct": (t, n_test),
                    **{name: (t,) for name in PER_TRIAL if name not in
                       ("mask", "train_correct", "test_correct")},
                    "train_labels": (n,), "train_source_index": (n,),
                    "train_label_flipped": (n,), "test_labels": (n_test,),
                    "test_source_index": (n_test,), "subset_accuracy": (t,),
                    "train_prediction": (t, n)}
        for name, shape in expected.items():  # datasets a store lacks get their defaults
            if name in h5 and h5[name].shape != shape:
                raise StoreError(f"{path}: {name} has shape {h5[name].shape}, expected {shape}")
        return t, n, n_test

    @property
    def attrs(self) -> dict[str, Any]:
        """The store's attributes, each missing one filled with its default (docs/formats.md)."""
        return {**store_attr_defaults(self.n, self.n_test, self.subset_size),
                **read_attrs(self.h5, StoreError)}

    @property
    def subset_size(self) -> int:
        """m as recorded, or the median subset size of the first trials when not recorded."""
        if "subset_size" in self.h5.attrs:
            return int(self.h5.attrs["subset_size"])
        return int(np.median(self.array("mask", slice(0, 64)).sum(axis=1))) if self.t else 0

    @property
    def chunk_rows(self) -> int:
        """Trials per HDF5 chunk of the (t, n) arrays: read blocks of whole chunks."""
        return (self.h5["mask"].chunks or (64,))[0]

    def array(self, name: str, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """Dataset ``name`` (rows ``rows`` of a per-trial one) in the schema's dtype."""
        if name not in self.h5 and name in OPTIONAL_DEFAULTS:
            return self._default(name, rows)
        return np.asarray(read(self.h5, name, self.path, StoreError, rows), dtype=_DTYPES[name])

    def has(self, name: str) -> bool:
        """Whether the store holds dataset ``name`` (optional ones may be absent)."""
        return name in self.h5

    def _default(self, name: str, rows: slice | np.ndarray) -> np.ndarray:
        """The documented default of an optional dataset the file does not hold."""
        size = self.t if name in PER_TRIAL else self.n if name.startswith("train_") \
            else self.n_test
        if name == "test_accuracy":
            correct = self.array("test_correct", rows)
            return correct.mean(axis=1) if correct.shape[1] else np.full(len(correct), np.nan)
        default = OPTIONAL_DEFAULTS[name]
        full = np.arange(size, dtype=np.int64) if default == "index" else \
            np.full(size, default, dtype=_DTYPES[name])
        return full[rows] if name in PER_TRIAL else full

    def trial_ids(self) -> np.ndarray:
        ids = self.array("trial")
        if len(np.unique(ids)) != len(ids):
            raise StoreError(f"{self.path}: duplicate trial ids")
        return ids


class MemoryStoreReader:
    """A :class:`CorrectnessStore` in memory behind :class:`StoreReader`'s reading interface,
    so the estimators run one code path on files and on arrays
    (``longtail.estimators.algorithm1``)."""

    def __init__(self, store: CorrectnessStore) -> None:
        self.store, self.path = store, "<arrays>"
        self.t, self.n = store.mask.shape
        self.n_test = store.test_correct.shape[1]
        self.chunk_rows = max(1, self.t)

    def __enter__(self) -> MemoryStoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.store.attrs)

    def has(self, name: str) -> bool:
        source = self.store.trials if name in PER_TRIAL + OPTIONAL_PER_TRIAL else self.store
        return getattr(source, name, None) is not None

    def array(self, name: str, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        if name in PER_TRIAL + OPTIONAL_PER_TRIAL:
            return np.asarray(getattr(self.store.trials, name)[rows], dtype=_DTYPES[name])
        return np.asarray(getattr(self.store, name), dtype=_DTYPES[name])

    def trial_ids(self) -> np.ndarray:
        ids = self.array("trial")
        if len(np.unique(ids)) != len(ids):
            raise StoreError("duplicate trial ids")
        return ids


def read_store(path: str | os.PathLike) -> CorrectnessStore:
    """Read and validate a whole correctness store (this project's or a user's own)."""
    with StoreReader(path) as reader:
        reader.trial_ids()
        trials = TrialResults(**{name: reader.array(name) for name in PER_TRIAL},
                              **{name: reader.array(name) for name in OPTIONAL_PER_TRIAL
                                 if reader.has(name)})
        return CorrectnessStore(trials=trials, attrs=reader.attrs,
                                **{name: reader.array(name) for name in PER_EXAMPLE})
