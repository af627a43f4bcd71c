"""``results/{study}/estimates.h5``: memorization and influence estimates (Algorithm 1, lines
5 and 7) computed from a correctness store, and the readers every later stage uses.

Schema (public contract): docs/formats.md ("estimates.h5"), the one description of
every dataset, group and attribute; this module implements it. The file is written and read
through :mod:`longtail.store.h5`: every dataset carries a Fletcher-32 checksum, the ``complete``
attribute is written last, and a file without it or with a changed byte is refused
(:class:`EstimatesError` naming the file and the dataset).

The store is read in blocks of trials (whole HDF5 chunks of rows) and only counts are kept
(see :mod:`longtail.estimators.algorithm1`), so memory does not grow with t; diverged trials are
dropped on the way in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
from threadpoolctl import threadpool_limits

from longtail.config.defaults import DEFAULT_INFLUENCE, INFLUENCE_MODES
from longtail.estimators.algorithm1 import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_MIN_TRIALS,
    InfluenceBlock,
    class_layout,
    held_out_votes,
    influence_blocks,
    mem_counts,
    mem_from_counts,
    same_class_counts,
    same_class_from_counts,
    suggested_labels,
)
from longtail.store.correctness import (
    PER_EXAMPLE,
    CorrectnessStore,
    MemoryStoreReader,
    StoreError,
    StoreReader,
)
from longtail.store.h5 import create, create_dataset, open_file, read, read_attrs, write_attrs

SAME_CLASS_GROUP = "infl_same_class"
PER_EXAMPLE_ESTIMATES = ("mem", "mem_se", "n_in", "n_out")
# Per-example datasets added later; files written before them lack them (read as None).
OPTIONAL_ESTIMATES = ("p_in", "p_out", "suggested_label", "suggested_label_share",
                      "test_hits")
FIT_PREMISE = 0.95  # Section 1: standard training fits 95-100% of the training set
MAX_VOTE_CELLS = 2**28  # n x classes held-out vote counts kept in memory (2 GB of int64)
STORE_ATTRS = ("dataset", "arch", "subset_size", "fingerprint")
TRIAL_BLOCK_BYTES = 16 * 2**20


class EstimatesError(StoreError):
    """An estimates file is unreadable or does not follow the schema above."""


@dataclass
class Estimates:
    """The per-example part of ``estimates.h5`` (influence is read separately)."""

    mem: np.ndarray
    mem_se: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    train_labels: np.ndarray
    test_labels: np.ndarray
    train_source_index: np.ndarray
    test_source_index: np.ndarray
    excluded_trials: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    p_in: np.ndarray | None = None
    p_out: np.ndarray | None = None
    suggested_label: np.ndarray | None = None
    suggested_label_share: np.ndarray | None = None
    test_hits: np.ndarray | None = None  # (n_test,) int64; None in files written before it


def _trial_blocks(t: int, chunk_rows: int, row_bytes: int) -> Iterator[slice]:
    """Consecutive row ranges of whole HDF5 chunks, each about TRIAL_BLOCK_BYTES of bool."""
    rows = max(1, TRIAL_BLOCK_BYTES // max(row_bytes, 1) // chunk_rows) * chunk_rows
    for start in range(0, t, rows):
        yield slice(start, min(start + rows, t))


def _read_trials(store: StoreReader, rows: slice, keep: np.ndarray, names: Sequence[str]
                 ) -> tuple[np.ndarray, ...]:
    """Datasets ``names`` (e.g. mask, train_correct, test_correct) of the trials ``rows``
    marked in ``keep``."""
    select = slice(None) if keep.all() else keep
    return tuple(store.array(name, rows)[select] for name in names)


def _prefetch(store: StoreReader, use: np.ndarray, row_bytes: int,
              names: Sequence[str] = ("mask", "train_correct", "test_correct")
              ) -> Iterator[tuple[np.ndarray, ...]]:
    """The used trials in blocks of rows; a worker thread decompresses the next block while
    the caller computes on this one (h5py and BLAS both release the GIL)."""
    blocks = [rows for rows in _trial_blocks(len(use), store.chunk_rows, row_bytes)
              if use[rows].any()]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for rows in blocks:
            future = pool.submit(_read_trials, store, rows, use[rows], names)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()


def _num_classes(train_labels: np.ndarray, test_labels: np.ndarray) -> int:
    """Classes 0..C-1 of a store: one more than the largest label of either split."""
    return int(max(train_labels.max(initial=-1), test_labels.max(initial=-1))) + 1


def compute_estimates(store_path: str | os.PathLike | CorrectnessStore, *,
                      influence: str = DEFAULT_INFLUENCE,
                      min_trials: int = DEFAULT_MIN_TRIALS, trials: np.ndarray | None = None,
                      block_size: int = DEFAULT_BLOCK_SIZE
                      ) -> tuple[Estimates, Iterator[InfluenceBlock]]:
    """Algorithm 1, lines 4-7, over the valid trials of a correctness store (a file, or one
    in memory).

    ``trials`` (t,) bool optionally restricts the trials used further (e.g. to one half for
    the consistency check); diverged trials are always excluded and counted. Returns the
    per-example estimates and an iterator of influence blocks: one per class (same-class), one
    per ``block_size`` training examples (full; computed lazily, so write them as they come)
    or none.
    """
    if influence not in INFLUENCE_MODES:
        raise ValueError(f"influence must be one of {INFLUENCE_MODES}, got {influence!r}")
    reader = MemoryStoreReader(store_path) if isinstance(store_path, CorrectnessStore) \
        else StoreReader(store_path)
    # One BLAS thread while reading (the same-class counts' GEMMs): the prefetch thread
    # decompresses on another core, and ~100 small GEMMs per block of trials lose more to
    # thread synchronisation than a second thread gains (docs/performance.md, Estimation).
    with reader as store, threadpool_limits(1, user_api="blas"):
        t, n, n_test = store.t, store.n, store.n_test
        example = {name: store.array(name) for name in PER_EXAMPLE}
        trial_ids = store.trial_ids()
        diverged = store.array("diverged")
        attrs = {key: value for key, value in store.attrs.items() if key in STORE_ATTRS}
        use = ~diverged if trials is None else ~diverged & np.asarray(trials, bool)
        t_valid = int(use.sum())
        layout = class_layout(example["train_labels"], example["test_labels"])
        hits_in, n_in, hits = (np.zeros(n, np.int64) for _ in range(3))
        test_hits = np.zeros(n_test, np.int64)
        trial_fit = np.asarray(store.array("subset_accuracy") if store.has("subset_accuracy")
                               else np.full(t, np.nan))[use]
        same_class = None
        if influence == "full":
            full_mask = np.empty((t_valid, n), bool)
            full_test = np.empty((t_valid, n_test), bool)
        num_classes = _num_classes(example["train_labels"], example["test_labels"])
        votes = np.zeros((n, num_classes), np.int64) if store.has("train_prediction") and \
            n * num_classes <= MAX_VOTE_CELLS else None
        names = ("mask", "train_correct", "test_correct") + \
            (("train_prediction",) if votes is not None else ())
        done = 0
        for mask, correct, test, *prediction in _prefetch(store, use, n + n_test, names):
            for total, part in zip((hits_in, n_in, hits), mem_counts(mask, correct), strict=True):
                total += part
            del correct
            if votes is not None:
                votes += held_out_votes(mask, prediction[0], num_classes)
            test_hits += np.add.reduce(test.view(np.uint8), axis=0, dtype=np.int64)
            if influence == "same-class":
                same_class = same_class_counts(mask, test, layout, same_class)
            elif influence == "full":
                full_mask[done:done + len(mask)] = mask
                full_test[done:done + len(mask)] = test
            done += len(mask)
    est = mem_from_counts(hits_in, n_in, hits, t_valid, min_trials=min_trials)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_in = np.where(est.n_in > 0, hits_in / est.n_in, np.nan)
        p_out = np.where(est.n_out > 0, (hits - hits_in) / est.n_out, np.nan)
    suggested, share = suggested_labels(votes) if votes is not None else (None, None)
    fit = fit_summary(hits_in, n_in, hits, t_valid, test_hits,
                      example["train_label_flipped"].astype(bool), trial_fit)
    estimates = Estimates(
        mem=est.mem, mem_se=est.mem_se, n_in=est.n_in, n_out=est.n_out,
        train_labels=example["train_labels"].astype(np.int64),
        test_labels=example["test_labels"].astype(np.int64),
        train_source_index=example["train_source_index"].astype(np.int64),
        test_source_index=example["test_source_index"].astype(np.int64),
        excluded_trials=trial_ids[diverged].astype(np.int64), test_hits=test_hits,
        attrs={**attrs, "influence": influence, "n": n, "n_test": n_test, "n_trials": t,
               "n_valid_trials": t_valid, "n_excluded_trials": int(diverged.sum()),
               "min_trials": min_trials, "n_few_trials": est.n_few, **fit},
        p_in=p_in, p_out=p_out, suggested_label=suggested, suggested_label_share=share)
    if influence == "same-class":
        if same_class is None:
            same_class = same_class_counts(np.zeros((0, n), bool), np.zeros((0, n_test), bool),
                                           layout)
        blocks: Iterator[InfluenceBlock] = iter(
            same_class_from_counts(layout, same_class, n_in, test_hits, t_valid))
    elif influence == "full":
        blocks = influence_blocks(full_mask, full_test, block_size=block_size)
    else:
        blocks = iter(())
    return estimates, blocks


def held_out_vote_counts(store_path: str | os.PathLike
                         ) -> tuple[np.ndarray, np.ndarray, int]:
    """``(votes, n_out, t_valid)`` over the valid trials of a store that records
    ``train_prediction``: votes (n, C) int64, how many models trained without i predict each
    class for x_i (the counts ``suggested_label`` is the argmax of), n_out (n,) how many
    valid trials held i out. ``votes.sum(axis=1) < n_out`` where a held-out prediction is
    outside 0..C-1. Read in blocks of trials, as :func:`compute_estimates` reads."""
    with StoreReader(store_path) as store:
        if not store.has("train_prediction"):
            raise StoreError(f"{store_path}: records no train_prediction (the class each "
                             f"trial's model predicts for every training example), so there "
                             f"are no held-out predictions to count")
        use = ~store.array("diverged")
        num_classes = _num_classes(store.array("train_labels"), store.array("test_labels"))
        votes = np.zeros((store.n, num_classes), np.int64)
        n_out = np.zeros(store.n, np.int64)
        for mask, prediction in _prefetch(store, use, 2 * store.n,
                                          ("mask", "train_prediction")):
            votes += held_out_votes(mask, prediction, num_classes)
            n_out += len(mask) - np.add.reduce(mask.view(np.uint8), axis=0, dtype=np.int64)
    return votes, n_out, int(use.sum())


def fit_summary(hits_in: np.ndarray, n_in: np.ndarray, hits: np.ndarray, t: int,
                test_hits: np.ndarray, flipped: np.ndarray, trial_fit: np.ndarray
                ) -> dict[str, float]:
    """How well the t valid models fit their own subsets, from Alg. 1's counts: pooled
    in-subset accuracy (all, and over flipped labels), held-out and test accuracy, and the
    worst trial's fit (``trial_fit``: the store's per-trial ``subset_accuracy``)."""
    def share(hit: np.ndarray, total: np.ndarray) -> float:
        return float(hit.sum() / total.sum()) if total.sum() else float("nan")
    n_out = t - n_in
    return {
        "fit": share(hits_in, n_in),
        "fit_min_trial": float(np.min(trial_fit)) if len(trial_fit) and
        not np.isnan(trial_fit).all() else float("nan"),
        "fit_flipped": share(hits_in[flipped], n_in[flipped]),
        "held_out_accuracy": share(hits - hits_in, n_out),
        "test_accuracy": float(test_hits.sum() / (t * len(test_hits)))
        if t and len(test_hits) else float("nan"),
    }


def fit_report(attrs: dict[str, Any]) -> dict[str, Any]:
    """The models' fit for summary.json and captions, with a warning when they fit less than
    Section 1's premise (95% of their training set)."""
    keys = ("fit", "fit_min_trial", "fit_flipped", "held_out_accuracy", "test_accuracy")
    report = {f"models_{key}": float(attrs[key]) for key in keys
              if key in attrs and not np.isnan(attrs[key])}  # JSON has no NaN
    fit = report.get("models_fit", float("nan"))
    if not np.isnan(fit) and fit < FIT_PREMISE:
        report["fit_warning"] = (f"the models fit only {100 * fit:.1f}% of their training subsets "
                             f"(the paper's premise: 95-100%); memorization estimates are "
                             f"lower than a model that fits its data would give")
    return report


def valid_trials(store_path: str | os.PathLike) -> np.ndarray:
    """(t,) bool: the store's trials that did not diverge (the ones Algorithm 1 uses)."""
    with StoreReader(store_path) as store:
        return ~store.array("diverged")


def write_estimates(path: str | os.PathLike, estimates: Estimates,
                    blocks: Iterator[InfluenceBlock] | Sequence[InfluenceBlock] = ()) -> None:
    """Write ``estimates.h5`` atomically; ``blocks`` are consumed one at a time.

    For ``attrs["influence"] == "full"`` the blocks must tile the training examples (rows) with
    all test examples and are written into chunked float32 datasets ``infl``/``infl_se`` of
    shape (n, n_test); for ``"same-class"`` each block is one class group.
    """
    mode = estimates.attrs.get("influence", "none")
    n, n_test = len(estimates.mem), len(estimates.test_labels)
    with create(path) as h5:
        for name in (*PER_EXAMPLE_ESTIMATES, "train_labels", "test_labels", "train_source_index",
                     "test_source_index", "excluded_trials"):
            create_dataset(h5, name, getattr(estimates, name))
        for name in OPTIONAL_ESTIMATES:
            if getattr(estimates, name) is not None:
                create_dataset(h5, name, getattr(estimates, name))
        write_attrs(h5, {**estimates.attrs, "n": n, "n_test": n_test})
        if mode == "full":
            _write_full(h5, blocks, n, n_test)
        elif mode == "same-class":
            group = h5.create_group(SAME_CLASS_GROUP)
            for block in blocks:
                labels = np.unique(np.concatenate([estimates.train_labels[block.train_index],
                                                   estimates.test_labels[block.test_index]]))
                if len(labels) != 1:
                    raise ValueError(f"a same-class block holds labels {labels.tolist()}")
                sub = group.create_group(str(int(labels[0])))
                sub.attrs["label"] = int(labels[0])
                for name in ("train_index", "test_index", "infl", "infl_se"):
                    create_dataset(sub, name, getattr(block, name))


def _write_full(h5: h5py.File, blocks: Iterator[InfluenceBlock] | Sequence[InfluenceBlock],
                n: int, n_test: int) -> None:
    # whole rows, about 1 MB per chunk: row blocks are written (and read) without reshuffling
    rows = 2 ** int(np.log2(max(1, 2**18 // max(n_test, 1))))
    chunks = (max(1, min(n, rows)), max(1, n_test))
    datasets = {name: create_dataset(h5, name, shape=(n, n_test), dtype=np.float32,
                                     chunks=chunks)
                for name in ("infl", "infl_se")}
    written = np.zeros(n, bool)
    for block in blocks:
        rows = np.asarray(block.train_index)
        if not np.array_equal(block.test_index, np.arange(n_test)) or not len(rows) or \
                not np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
            raise ValueError("full influence blocks must be contiguous row ranges x all tests")
        for name, ds in datasets.items():
            ds[rows[0]:rows[0] + len(rows)] = getattr(block, name)
        written[rows] = True
    if not written.all():
        raise ValueError(f"full influence blocks cover {int(written.sum())} of {n} rows")


def trials_in_range(store_path: str | os.PathLike, trial_range: tuple[int, int]
                    ) -> np.ndarray:
    """Boolean (t,) over the store's rows: the trials with ids in [start, stop)."""
    with StoreReader(store_path) as store:
        ids = store.trial_ids()
    trials = (ids >= trial_range[0]) & (ids < trial_range[1])
    if not trials.any():
        raise StoreError(f"{store_path}: no trial with id in [{trial_range[0]}, "
                         f"{trial_range[1]}) (ids {ids.min()}..{ids.max()})")
    return trials


def estimate_store(store_path: str | os.PathLike, out_path: str | os.PathLike,
                   influence: str = "same-class", min_out_trials: int = DEFAULT_MIN_TRIALS,
                   block_size: int = DEFAULT_BLOCK_SIZE,
                   trial_range: tuple[int, int] | None = None) -> dict[str, Any]:
    """Read a correctness store, estimate mem (and influence) and write ``out_path``.

    Thin-adapter entry point for ``rules/estimate.smk``; returns the attributes written
    (trial counts, excluded diverged trials, examples with too few trials). ``trial_range``
    (start, stop) restricts Algorithm 1 to the trials with ids in [start, stop).
    """
    trials = None if trial_range is None else trials_in_range(store_path, trial_range)
    estimates, blocks = compute_estimates(store_path, influence=influence,
                                          min_trials=min_out_trials, trials=trials,
                                          block_size=block_size)
    write_estimates(out_path, estimates, blocks)
    return dict(estimates.attrs)


def read_estimates(path: str | os.PathLike) -> Estimates:
    """Read the per-example part of ``estimates.h5`` (no influence values)."""
    with open_file(path, EstimatesError) as h5:
        data = {name: read(h5, name, path, EstimatesError)
                for name in (*PER_EXAMPLE_ESTIMATES, "train_labels", "test_labels",
                             "train_source_index", "test_source_index", "excluded_trials")}
        data.update({name: read(h5, name, path, EstimatesError)
                     for name in OPTIONAL_ESTIMATES if name in h5})
        attrs = read_attrs(h5, EstimatesError)
    n, n_test = len(data["mem"]), len(data["test_labels"])
    for name, value in data.items():
        want = (n_test,) if name.startswith("test_") else None if name == "excluded_trials" \
            else (n,)
        if want is not None and value.shape != want:
            raise EstimatesError(f"{path}: {name} has shape {value.shape}, expected {want}")
    if attrs.get("influence") not in INFLUENCE_MODES:
        raise EstimatesError(f"{path}: attribute 'influence' is {attrs.get('influence')!r}, "
                             f"expected one of {INFLUENCE_MODES}")
    return Estimates(**data, attrs=attrs)


def iter_influence(path: str | os.PathLike, train_rows: np.ndarray | None = None,
                   block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[InfluenceBlock]:
    """Influence blocks of ``estimates.h5``, restricted to training examples ``train_rows``
    (bool (n,) or indices) when given: per class (same-class) or per row block (full)."""
    estimates = read_estimates(path)
    n = len(estimates.mem)
    keep = np.ones(n, bool)
    if train_rows is not None:
        keep = np.zeros(n, bool)
        keep[np.asarray(train_rows)] = True
    with open_file(path, EstimatesError) as h5:
        mode = estimates.attrs["influence"]
        if mode == "same-class":
            if SAME_CLASS_GROUP not in h5:
                raise EstimatesError(f"{path}: missing group '{SAME_CLASS_GROUP}'")
            for sub in h5[SAME_CLASS_GROUP].values():
                train_index = read(sub, "train_index", path, EstimatesError)
                rows = keep[train_index]
                if rows.any():
                    yield InfluenceBlock(train_index[rows],
                                         read(sub, "test_index", path, EstimatesError),
                                         read(sub, "infl", path, EstimatesError)[rows],
                                         read(sub, "infl_se", path, EstimatesError)[rows])
        elif mode == "full":
            test_index = np.arange(len(estimates.test_labels))
            for start in range(0, n, block_size):
                rows = slice(start, min(start + block_size, n))
                sel = keep[rows]
                if sel.any():
                    yield InfluenceBlock(np.arange(rows.start, rows.stop)[sel], test_index,
                                         read(h5, "infl", path, EstimatesError, rows)[sel],
                                         read(h5, "infl_se", path, EstimatesError, rows)[sel])


def load_influence(path: str | os.PathLike, train_index: np.ndarray | Sequence[int],
                   test_index: np.ndarray | Sequence[int], *, se: bool = False,
                   pairwise: bool = False) -> np.ndarray:
    """Influence estimates (or, with ``se``, their standard errors) from ``estimates.h5``.

    Returns the (len(train_index), len(test_index)) grid ``infl[train_index[a], test_index[b]]``,
    or with ``pairwise`` the vector ``infl[train_index[k], test_index[k]]``. In same-class mode
    cross-class pairs (y_i != y'_j) are NaN: they were never estimated.
    """
    train_index = np.asarray(train_index, np.int64).reshape(-1)
    test_index = np.asarray(test_index, np.int64).reshape(-1)
    estimates = read_estimates(path)
    n, n_test = len(estimates.mem), len(estimates.test_labels)
    for name, index, size in (("train", train_index, n), ("test", test_index, n_test)):
        if len(index) and (index.min() < 0 or index.max() >= size):
            raise IndexError(f"{name} index out of range 0..{size - 1}")
    if pairwise and len(train_index) != len(test_index):
        raise ValueError(f"pairwise needs as many train ({len(train_index)}) as test "
                         f"({len(test_index)}) indices")
    shape = (len(train_index),) if pairwise else (len(train_index), len(test_index))
    out = np.full(shape, np.nan, np.float32)
    name = "infl_se" if se else "infl"
    mode = estimates.attrs["influence"]
    if mode == "none":
        raise EstimatesError(f"{path}: holds no influence estimates (influence = none)")
    with open_file(path, EstimatesError) as h5:
        if mode == "full":
            rows, inverse = np.unique(train_index, return_inverse=True)
            values = read(h5, name, path, EstimatesError, rows) if len(rows) else \
                np.zeros((0, n_test), np.float32)
            grid_rows = values[inverse]
            out[...] = grid_rows[np.arange(len(train_index)), test_index] if pairwise \
                else grid_rows[:, test_index]
            return out
        train_labels, test_labels = estimates.train_labels, estimates.test_labels
        for label in np.unique(train_labels[train_index]):
            key = f"{SAME_CLASS_GROUP}/{int(label)}"
            if key not in h5:
                raise EstimatesError(f"{path}: missing group '{key}'")
            group = h5[key]
            block = read(group, name, path, EstimatesError)
            row_of = _positions(read(group, "train_index", path, EstimatesError), n)
            col_of = _positions(read(group, "test_index", path, EstimatesError), n_test)
            a = np.flatnonzero(train_labels[train_index] == label)
            if pairwise:
                a = a[test_labels[test_index[a]] == label]
                out[a] = block[row_of[train_index[a]], col_of[test_index[a]]]
            else:
                b = np.flatnonzero(test_labels[test_index] == label)
                out[np.ix_(a, b)] = block[np.ix_(row_of[train_index[a]], col_of[test_index[b]])]
    return out


def _positions(index: np.ndarray, size: int) -> np.ndarray:
    """Inverse of an index array: position of each example in ``index`` (-1 if absent)."""
    where = np.full(size, -1, np.int64)
    where[index] = np.arange(len(index))
    return where
