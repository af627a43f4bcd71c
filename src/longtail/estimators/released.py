"""The paper authors' released estimate files (``cifar100_infl_matrix.npz``, ImageNet's), both
ways: ``longtail scores --format released`` writes our estimates in that layout and
``longtail import-released`` reads such a file into ``estimates.h5``.

Layout (one ``.npz``; c runs over the classes 0..C-1):

==========================  ====================  ===========================================
key                         shape, dtype          meaning
==========================  ====================  ===========================================
``tr_mem``                  (n,) float            mem~ of every training example
``tr_labels``               (n,) int              y_i
``tt_labels``               (n_test,) int         y'_j
``infl_matrix_class{c}``    (n_c, n'_c) float     infl~ of training example tr_classidx_{c}[a]
                                                  on test example tt_classidx_{c}[b]
``tr_classidx_{c}``         (n_c,) int            training examples with label c
``tt_classidx_{c}``         (n'_c,) int           test examples with label c
==========================  ====================  ===========================================

This is exactly our same-class influence (``infl_same_class/<c>``). The released files hold no
standard errors, trial counts or original-split indices: imported, ``mem_se`` and ``infl_se``
are NaN, ``n_in``/``n_out`` are -1 (unknown) and source indices are 0..n-1.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

from longtail.data.study_data import StudyData
from longtail.estimators.algorithm1 import InfluenceBlock
from longtail.estimators.estimates import (
    Estimates,
    EstimatesError,
    iter_influence,
    load_influence,
    read_estimates,
    write_estimates,
)
from longtail.store.io import atomic_path

RELEASED_KEYS = ("tr_mem", "tr_labels", "tt_labels")


def released_arrays(estimates_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The released layout of ``estimates.h5`` (same-class influence; from a full matrix the
    same-class blocks are cut out)."""
    estimates = read_estimates(estimates_path)
    mode = estimates.attrs["influence"]
    if mode == "none":
        raise EstimatesError(f"{estimates_path}: holds no influence estimates (influence = "
                             f"none); the released layout needs same-class influence")
    out: dict[str, np.ndarray] = {"tr_mem": estimates.mem.astype(np.float64),
                                  "tr_labels": estimates.train_labels.astype(np.int64),
                                  "tt_labels": estimates.test_labels.astype(np.int64)}
    labels = np.union1d(estimates.train_labels, estimates.test_labels)
    if len(labels) and labels.min() < 0:
        raise EstimatesError(f"{estimates_path}: negative labels cannot be written as "
                             f"infl_matrix_class{{c}}")
    blocks = {}  # same-class groups by label (iter_influence yields only non-empty ones)
    if mode == "same-class":
        for block in iter_influence(estimates_path):
            blocks[int(estimates.train_labels[block.train_index[0]])] = block
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        tr = np.flatnonzero(estimates.train_labels == c)
        tt = np.flatnonzero(estimates.test_labels == c)
        block = blocks.get(c)
        if block is not None:
            matrix = _reorder(block, tr, tt)
        elif len(tr) and len(tt):
            matrix = load_influence(estimates_path, tr, tt)
        else:
            matrix = np.zeros((len(tr), len(tt)), np.float32)
        out[f"infl_matrix_class{c}"] = matrix.astype(np.float32)
        out[f"tr_classidx_{c}"] = tr.astype(np.int64)
        out[f"tt_classidx_{c}"] = tt.astype(np.int64)
    return out


def _reorder(block: InfluenceBlock, tr: np.ndarray, tt: np.ndarray) -> np.ndarray:
    """``block.infl`` with rows in the order ``tr`` and columns in the order ``tt``."""
    rows = {int(i): a for a, i in enumerate(block.train_index)}
    cols = {int(j): b for b, j in enumerate(block.test_index)}
    return block.infl[np.ix_([rows[int(i)] for i in tr], [cols[int(j)] for j in tt])]


def write_released(estimates_path: str | os.PathLike, out_path: str | os.PathLike) -> None:
    """Write ``estimates.h5`` as a released-layout ``.npz`` (atomically, compressed)."""
    arrays = released_arrays(estimates_path)
    with atomic_path(out_path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def read_released(path: str | os.PathLike) -> tuple[Estimates, list[InfluenceBlock]]:
    """Estimates and same-class influence blocks of a released-layout file; EstimatesError
    naming the file and key for anything that does not fit the layout."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise EstimatesError(f"{path}: not a readable .npz file ({err})") from err
    missing = [key for key in RELEASED_KEYS if key not in data]
    if missing:
        raise EstimatesError(f"{path}: missing keys {missing}; a released estimates file has "
                             f"tr_mem, tr_labels, tt_labels and per class infl_matrix_class{{c}},"
                             f" tr_classidx_{{c}}, tt_classidx_{{c}}")
    mem = np.asarray(data["tr_mem"], np.float64)
    train_labels = _ints(data, "tr_labels", path)
    test_labels = _ints(data, "tt_labels", path)
    n, n_test = len(train_labels), len(test_labels)
    if mem.shape != (n,):
        raise EstimatesError(f"{path}: tr_mem has shape {mem.shape}, tr_labels ({n},)")
    blocks = []
    classes = sorted(int(key[len("infl_matrix_class"):]) for key in data
                     if key.startswith("infl_matrix_class"))
    for c in classes:
        tr = _ints(data, f"tr_classidx_{c}", path)
        tt = _ints(data, f"tt_classidx_{c}", path)
        infl = np.asarray(data[f"infl_matrix_class{c}"], np.float32)
        if infl.shape != (len(tr), len(tt)):
            raise EstimatesError(f"{path}: infl_matrix_class{c} has shape {infl.shape}, "
                                 f"expected ({len(tr)}, {len(tt)}) from tr_classidx_{c}, "
                                 f"tt_classidx_{c}")
        for name, index, labels, size in (("tr", tr, train_labels, n),
                                          ("tt", tt, test_labels, n_test)):
            if len(index) and (index.min() < 0 or index.max() >= size):
                raise EstimatesError(f"{path}: {name}_classidx_{c} has indices outside "
                                     f"0..{size - 1}")
            if not (labels[index] == c).all():
                raise EstimatesError(f"{path}: {name}_classidx_{c} lists examples whose label "
                                     f"is not {c}")
        blocks.append(InfluenceBlock(tr, tt, infl, np.full(infl.shape, np.nan, np.float32)))
    estimates = Estimates(
        mem=mem, mem_se=np.full(n, np.nan), n_in=np.full(n, -1, np.int64),
        n_out=np.full(n, -1, np.int64), train_labels=train_labels, test_labels=test_labels,
        train_source_index=np.arange(n, dtype=np.int64),
        test_source_index=np.arange(n_test, dtype=np.int64),
        excluded_trials=np.zeros(0, np.int64),
        attrs={"influence": "same-class", "n": n, "n_test": n_test, "n_trials": -1,
               "n_valid_trials": -1, "n_excluded_trials": -1,
               "released_from": os.fspath(path)})
    return estimates, blocks


def _ints(data: dict[str, Any], key: str, path: str | os.PathLike) -> np.ndarray:
    if key not in data:
        raise EstimatesError(f"{path}: missing key {key!r}")
    array = np.asarray(data[key])
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise EstimatesError(f"{path}: {key} must be a 1-D integer array, got shape "
                             f"{array.shape}, dtype {array.dtype}")
    return array.astype(np.int64)


def import_released(path: str | os.PathLike, out_path: str | os.PathLike,
                    attrs: dict[str, Any] | None = None,
                    data: StudyData | None = None) -> Estimates:
    """Read a released-layout file and write it as ``estimates.h5`` (``attrs`` added, e.g.
    the dataset); returns the per-example estimates written.

    Given the study ``data`` the estimates describe (the workflow's ``data.h5``, whose rows
    are the released file's examples), its labels must equal the file's and its original
    indices are recorded as the source indices.
    """
    estimates, blocks = read_released(path)
    if data is not None:
        for name, ours, theirs in (("tr_labels", data.y_train, estimates.train_labels),
                                   ("tt_labels", data.y_test, estimates.test_labels)):
            if len(ours) != len(theirs) or not np.array_equal(ours, theirs):
                differ = int(np.sum(ours != theirs)) if len(ours) == len(theirs) else "all"
                raise EstimatesError(
                    f"{path}: {name} ({len(theirs)} labels) does not match the study data "
                    f"({len(ours)} labels, {differ} differ); the released file must cover the "
                    f"whole split in its original order (n_train/n_test null, no label noise)")
        estimates.train_source_index = np.asarray(data.train_source_index, np.int64)
        estimates.test_source_index = np.asarray(data.test_source_index, np.int64)
    estimates.attrs.update(attrs or {})
    write_estimates(out_path, estimates, blocks)
    return estimates
