"""Correctness arrays in the layouts peers use, read into a correctness store
(``longtail import demo ...`` / ``longtail import datamodels ...``).

* ``demo``: the paper authors' public MNIST demo (``estimate_infl_mem``) stacks one row per
  trained model: ``trainset_mask`` (t, n) bool, ``trainset_correctness`` (t, n) and
  ``testset_correctness`` (t, n_test). Saved with ``np.savez`` under those names (labels as
  ``train_labels``/``test_labels``, or the demo's ``train_int_labels``/``test_int_labels``, or
  given separately).
* ``datamodels``: the datamodels/TRAK layout, ``masks.npy`` (t, n) bool and a per-trial margin
  matrix (t, n_test) of the test set (correct = margin > 0), plus the same for the training set
  (Algorithm 1 line 5 needs h_k's correctness on the training examples) and the labels.

Every dataset the layouts lack gets its documented default (docs/formats.md).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from longtail.store.correctness import CorrectnessStore, StoreError, store_from_arrays, write_store

DEMO_KEYS = ("trainset_mask", "trainset_correctness", "testset_correctness")
LABEL_KEYS = {"train_labels": ("train_labels", "train_int_labels"),
              "test_labels": ("test_labels", "test_int_labels")}


def load_array(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """One array from a ``.npy`` file, or array ``key`` (default: the only one) of a ``.npz``;
    StoreError naming the file otherwise."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise StoreError(f"{path}: not a readable .npy/.npz file ({err})") from err
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        files = loaded.files
        if key is None and len(files) == 1:
            key = files[0]
        if key not in files:
            raise StoreError(f"{path}: holds arrays {files}; expected {key or 'one array'}")
        return loaded[key]


def _read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise StoreError(f"{path}: not a readable .npz file ({err})") from err
    if isinstance(loaded, np.ndarray):
        raise StoreError(f"{path}: is a single array (.npy); expected an .npz archive with "
                         f"{', '.join(DEMO_KEYS)}")
    with loaded:
        return {key: loaded[key] for key in loaded.files}


def _checked(build: Any, source: str | os.PathLike, **arrays: Any) -> CorrectnessStore:
    try:
        return build(**arrays)
    except ValueError as err:
        if isinstance(err, StoreError):
            raise
        raise StoreError(f"{source}: {err}") from err


def import_demo(path: str | os.PathLike, out_path: str | os.PathLike,
                labels: Mapping[str, np.ndarray] | None = None,
                attrs: Mapping[str, Any] | None = None) -> CorrectnessStore:
    """Read the demo's arrays (one ``.npz``) and write a correctness store to ``out_path``."""
    data = _read_npz(path)
    missing = [key for key in DEMO_KEYS if key not in data]
    if missing:
        raise StoreError(f"{path}: missing arrays {missing}; the demo layout has "
                         f"{', '.join(DEMO_KEYS)} (t rows, one per trained model)")
    found = dict(labels or {})
    for name, keys in LABEL_KEYS.items():
        for key in keys:
            if name not in found and key in data:
                found[name] = data[key]
        if name not in found:
            raise StoreError(f"{path}: no {name}; store them in the file as {keys[0]} (or "
                             f"{keys[1]}) or pass --{name.replace('_', '-')} FILE.npy")
    store = _checked(store_from_arrays, path, mask=data["trainset_mask"],
                     train_correct=data["trainset_correctness"],
                     test_correct=data["testset_correctness"], **found,
                     attrs={"source_layout": "demo", "source": os.fspath(path),
                            **dict(attrs or {})})
    write_store(out_path, store)
    return store


def import_datamodels(masks: str | os.PathLike, test_margins: str | os.PathLike,
                      train_margins: str | os.PathLike, train_labels: np.ndarray,
                      test_labels: np.ndarray, out_path: str | os.PathLike,
                      attrs: Mapping[str, Any] | None = None) -> CorrectnessStore:
    """Read ``masks.npy`` and the margin matrices (correct = margin > 0) and write a
    correctness store to ``out_path``."""
    mask = load_array(masks)
    margins = {}
    for name, path in (("test", test_margins), ("train", train_margins)):
        margin = load_array(path)
        if margin.ndim != 2 or not np.issubdtype(margin.dtype, np.number):
            raise StoreError(f"{path}: {name} margins must be a 2-D numeric (trials x "
                             f"examples) array, got shape {margin.shape}, dtype {margin.dtype}")
        margins[name] = margin > 0
    store = _checked(store_from_arrays, Path(masks), mask=mask, train_correct=margins["train"],
                     test_correct=margins["test"], train_labels=train_labels,
                     test_labels=test_labels,
                     attrs={"source_layout": "datamodels", "source": os.fspath(masks),
                            **dict(attrs or {})})
    write_store(out_path, store)
    return store
