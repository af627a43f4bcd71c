"""Per-example scores as a table: the columns ``longtail scores`` writes and
``longtail.estimate(...).to_frame()`` returns (one row per training example).

Columns and output formats: docs/formats.md ("Scores"). A column whose values are unknown for
every example is left out; writing is by extension (``.csv``, ``.npz``, ``.parquet`` with the
optional ``pyarrow``).

:func:`write_cleanlab` writes the inputs of cleanlab's ``find_label_issues(labels,
pred_probs)`` instead: the given labels and the out-of-sample predicted probabilities of the
held-out models (:data:`CLEANLAB_README`). This package never imports cleanlab.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from longtail.config.defaults import SCORE_FORMATS
from longtail.estimators.algorithm1 import mem_counts
from longtail.estimators.estimates import (
    OPTIONAL_ESTIMATES,
    Estimates,
    held_out_vote_counts,
    read_estimates,
)
from longtail.store.correctness import StoreError, StoreReader
from longtail.store.io import atomic_path, write_json, write_text

CLEANLAB_README = """\
Inputs of cleanlab.filter.find_label_issues(labels, pred_probs), written by
`longtail scores ESTIMATES OUT --format cleanlab --store STORE` (meta.json: the counts).

labels.npy      int64 (n,): y_i, the training labels as the models were trained on
                (after any label noise the study added)
pred_probs.npy  float32 (n, C): pred_probs[i, c] is the share of the valid trials whose
                subset did not contain i (the models that never saw x_i) that predict c
                for x_i; diverged trials are left out. Each row sums to 1. These are
                out-of-sample predicted probabilities, as cleanlab asks for, with the
                resolution 1/n_out(i) of the number of such models (meta.json).

    import numpy as np
    from cleanlab.filter import find_label_issues
    issues = find_label_issues(np.load("labels.npy"), np.load("pred_probs.npy"))
"""
CLEANLAB_FILES = ("labels.npy", "pred_probs.npy", "meta.json", "README.txt")

SCORE_COLUMNS = ("index", "source_index", "label", "mem", "mem_se", "p_in", "p_out", "n_in",
                 "n_out", "suggested_label", "flipped")


class ScoresError(StoreError):
    """A scores table cannot be written in the requested format."""


def scores_frame(estimates: Estimates, extra: Mapping[str, np.ndarray] | None = None
                 ) -> pd.DataFrame:
    """The per-example table of ``estimates`` plus the known optional columns ``extra``
    (``p_in``, ``p_out``, ``suggested_label``, ``suggested_label_share``, ``flipped``)."""
    extra = dict(extra or {})
    n_in = pd.array(estimates.n_in, dtype="Int64")
    n_out = pd.array(estimates.n_out, dtype="Int64")
    unknown = np.asarray(estimates.n_in) < 0  # released estimates record no counts
    n_in[unknown] = pd.NA
    n_out[unknown] = pd.NA
    columns: dict[str, object] = {
        "index": np.arange(len(estimates.mem), dtype=np.int64),
        "source_index": np.asarray(estimates.train_source_index, np.int64),
        "label": np.asarray(estimates.train_labels, np.int64),
        "mem": np.asarray(estimates.mem, np.float64),
        "mem_se": np.asarray(estimates.mem_se, np.float64),
        "n_in": n_in, "n_out": n_out}
    for name in ("p_in", "p_out"):
        if name in extra:
            columns[name] = np.asarray(extra[name], np.float64)
    if "suggested_label" in extra:
        suggested = pd.array(np.asarray(extra["suggested_label"], np.int64), dtype="Int64")
        suggested[np.asarray(extra["suggested_label"]) < 0] = pd.NA
        columns["suggested_label"] = suggested
        if "suggested_label_share" in extra:
            columns["suggested_label_share"] = np.asarray(extra["suggested_label_share"],
                                                          np.float64)
    if "flipped" in extra:
        columns["flipped"] = np.asarray(extra["flipped"], bool)
    order = [c for c in (*SCORE_COLUMNS[:-2], "suggested_label", "suggested_label_share",
                         "flipped") if c in columns]
    return pd.DataFrame(columns)[order]


def proportions_from_store(store_path: str | os.PathLike
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p_in, p_out, flipped)`` of every training example over the valid trials of a store
    (the two proportions whose difference is Alg. 1 line 5)."""
    with StoreReader(store_path) as store:
        use = ~store.array("diverged")
        hits_in, n_in, hits = mem_counts(store.array("mask")[use],
                                         store.array("train_correct")[use])
        flipped = store.array("train_label_flipped")
    with np.errstate(divide="ignore", invalid="ignore"):
        p_in = np.where(n_in > 0, hits_in / n_in, np.nan)
        n_out = int(use.sum()) - n_in
        p_out = np.where(n_out > 0, (hits - hits_in) / n_out, np.nan)
    return p_in, p_out, flipped


def read_scores(estimates_path: str | os.PathLike,
                store_path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The scores table of ``estimates.h5``; ``store_path`` (its correctness store) adds
    ``p_in``/``p_out`` where the estimates file lacks them, and ``flipped``."""
    estimates = read_estimates(estimates_path)
    n = len(estimates.mem)
    extra = {name: getattr(estimates, name) for name in OPTIONAL_ESTIMATES
             if getattr(estimates, name) is not None}
    if store_path is not None:
        p_in, p_out, flipped = proportions_from_store(store_path)
        if len(flipped) != n:
            raise StoreError(f"{store_path}: holds n={len(flipped)} training examples, "
                             f"{estimates_path} n={n}; not the store of these estimates")
        extra.setdefault("p_in", p_in)
        extra.setdefault("p_out", p_out)
        extra["flipped"] = flipped
    return scores_frame(estimates, extra)


def write_scores(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a scores table atomically in the format its extension names."""
    suffix = Path(path).suffix.lower()
    if suffix not in SCORE_FORMATS:
        raise ScoresError(f"{path}: unknown extension {suffix!r}; use one of "
                         f"{', '.join(SCORE_FORMATS)}")
    if suffix == ".parquet":
        if importlib.util.find_spec("pyarrow") is None:  # optional dependency
            raise ScoresError(f"{path}: writing .parquet needs pyarrow (pip install "
                             f"'longtail[parquet]'); or write .csv or .npz")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, float_format="%.7g")
        elif suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{name: _plain(frame[name]) for name in frame.columns})


def _plain(column: pd.Series) -> np.ndarray:
    """A column as a plain numpy array for .npz (missing integers become -1)."""
    if isinstance(column.dtype, pd.Int64Dtype):
        return column.fillna(-1).to_numpy(np.int64)
    return column.to_numpy()


def cleanlab_arrays(estimates_path: str | os.PathLike, store_path: str | os.PathLike
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """``(labels, pred_probs, meta)`` for cleanlab's ``find_label_issues``: the training
    labels of ``estimates.h5`` and, per example, the class shares of the held-out
    predictions of its store (every example must have been held out by some valid trial)."""
    estimates = read_estimates(estimates_path)
    labels = np.asarray(estimates.train_labels, np.int64)
    votes, n_out, t_valid = held_out_vote_counts(store_path)
    if len(n_out) != len(labels):
        raise StoreError(f"{store_path}: holds n={len(n_out)} training examples, "
                         f"{estimates_path} n={len(labels)}; not the store of these estimates")
    with StoreReader(store_path) as store:
        same = np.array_equal(store.array("train_labels"), labels)
        fingerprint = store.attrs.get("fingerprint", "")
    if not same or fingerprint != estimates.attrs.get("fingerprint", fingerprint):
        raise StoreError(f"{store_path}: its training labels or fingerprint differ from "
                         f"{estimates_path}'s; not the store of these estimates")
    never = np.flatnonzero(n_out == 0)
    if len(never):
        raise ScoresError(
            f"{store_path}: {len(never)} of {len(labels)} training examples (first: "
            f"{', '.join(map(str, never[:5]))}) are in the subset of every one of the "
            f"{t_valid} valid trials, so no model predicts them out of sample; cleanlab needs "
            f"held-out predicted probabilities for every example. Raise t (more trials) or "
            f"lower the subset size m")
    uncounted = n_out - votes.sum(axis=1)
    if uncounted.any():
        raise ScoresError(
            f"{store_path}: {int(uncounted.sum())} held-out predictions of valid trials "
            f"(for {int((uncounted > 0).sum())} examples) are outside the classes "
            f"0..{votes.shape[1] - 1}; the train_prediction dataset is inconsistent")
    pred_probs = (votes / n_out[:, None]).astype(np.float32)
    meta: dict[str, object] = {
        "format": "cleanlab find_label_issues(labels, pred_probs)",
        "estimates": str(estimates_path), "store": str(store_path),
        "fingerprint": fingerprint, "n": len(labels), "num_classes": votes.shape[1],
        "n_valid_trials": t_valid,
        "n_excluded_trials": len(estimates.excluded_trials),
        "held_out_trials_per_example": {"min": int(n_out.min()),
                                        "median": float(np.median(n_out)),
                                        "max": int(n_out.max())},
        "labels": {"file": "labels.npy", "dtype": "int64", "shape": [len(labels)]},
        "pred_probs": {"file": "pred_probs.npy", "dtype": "float32",
                       "shape": list(pred_probs.shape)}}
    return labels, pred_probs, meta


def write_cleanlab(estimates_path: str | os.PathLike, store_path: str | os.PathLike,
                   out_dir: str | os.PathLike) -> dict[str, object]:
    """Write ``labels.npy``, ``pred_probs.npy``, ``meta.json`` and ``README.txt`` into the
    folder ``out_dir`` (created), each file atomically; returns the meta."""
    labels, pred_probs, meta = cleanlab_arrays(estimates_path, store_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, array in (("labels.npy", labels), ("pred_probs.npy", pred_probs)):
        with atomic_path(out / name) as tmp, open(tmp, "wb") as fh:
            np.save(fh, array)
    write_json(out / "meta.json", meta)
    write_text(out / "README.txt", CLEANLAB_README)
    return meta
