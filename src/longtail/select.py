"""Selection of high-influence pairs (Section 2), the per-study summary (Section 3) and the
consistency of the selection across independent halves of the trials (Section 2, Sec. C).

A pair (i, j) is selected when mem~_i >= theta_mem, infl~_ij >= theta_infl and y_i = y'_j.
NaN estimates (examples never in or never out of a subset) are never selected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from longtail.estimate import DEFAULT_MIN_TRIALS, InfluenceBlock
from longtail.estimates import (
    Estimates,
    compute_estimates,
    iter_influence,
    read_estimates,
    valid_trials,
)
from longtail.store import StoreError, atomic_path

DEFAULT_MEM_THRESHOLD = 0.25
DEFAULT_INFL_THRESHOLD = 0.15
DEFAULT_CONSISTENCY_THRESHOLDS = tuple(np.round(np.arange(0.05, 0.501, 0.05), 2).tolist())
PAIR_COLUMNS = ("train_index", "test_index", "label", "mem", "infl", "infl_se",
                "train_source_index", "test_source_index")
CONSISTENCY_COLUMNS = ("threshold", "pairs_a", "pairs_b", "intersection", "jaccard")


def select_pairs(estimates: Estimates, blocks: Iterable[InfluenceBlock], mem_threshold: float,
                 infl_threshold: float) -> pd.DataFrame:
    """All pairs with mem >= ``mem_threshold``, infl >= ``infl_threshold`` and y_i = y'_j
    (Section 2), as a DataFrame with :data:`PAIR_COLUMNS`, sorted by (train, test) index."""
    memorized = estimates.mem >= mem_threshold
    parts = []
    for block in blocks:
        rows = memorized[block.train_index]
        if not rows.any():
            continue
        train_index = block.train_index[rows]
        infl = block.infl[rows]
        same = estimates.train_labels[train_index, None] == \
            estimates.test_labels[None, block.test_index]
        a, b = np.nonzero((infl >= infl_threshold) & same)
        parts.append((train_index[a], block.test_index[b], infl[a, b],
                      block.infl_se[rows][a, b]))
    if not parts:
        parts.append((np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)))
    train, test, infl, se = (np.concatenate(column) for column in zip(*parts, strict=True))
    train, test = train.astype(np.int64), test.astype(np.int64)
    pairs = pd.DataFrame({
        "train_index": train, "test_index": test, "label": estimates.train_labels[train],
        "mem": estimates.mem[train], "infl": infl.astype(np.float64),
        "infl_se": se.astype(np.float64),
        "train_source_index": estimates.train_source_index[train],
        "test_source_index": estimates.test_source_index[test]}, columns=list(PAIR_COLUMNS))
    return pairs.sort_values(["train_index", "test_index"], ignore_index=True)


def summarize_pairs(pairs: pd.DataFrame, estimates: Estimates, mem_threshold: float,
                    infl_threshold: float) -> dict[str, Any]:
    """The numbers Section 3 reports for a study.

    ``n_test_single_train`` counts test examples that occur in exactly one selected pair, i.e.
    that are influenced above ``infl_threshold`` by a single memorized same-class training
    example ("Of those 31/774/1298 are influenced ... by a single training example").
    Percentages are of all n training / n_test test examples.
    """
    n, n_test = len(estimates.mem), len(estimates.test_labels)
    per_test = pairs["test_index"].value_counts()
    n_memorized = int(np.sum(estimates.mem >= mem_threshold))
    attrs = estimates.attrs
    return {
        "mem_threshold": float(mem_threshold),
        "infl_threshold": float(infl_threshold),
        "n_pairs": len(pairs),
        "n_test_examples": int(len(per_test)),
        "pct_test_examples": 100.0 * len(per_test) / n_test if n_test else float("nan"),
        "n_test_single_train": int((per_test == 1).sum()),
        "n_train_examples": int(pairs["train_index"].nunique()),
        "n_memorized": n_memorized,
        "pct_memorized": 100.0 * n_memorized / n if n else float("nan"),
        "n_mem_undefined": int(np.isnan(estimates.mem).sum()),
        "n": n,
        "n_test": n_test,
        "n_trials": int(attrs.get("n_trials", -1)),
        "n_valid_trials": int(attrs.get("n_valid_trials", -1)),
        "n_excluded_trials": int(attrs.get("n_excluded_trials", -1)),
        "influence": str(attrs.get("influence", "")),
    }


def write_pairs(pairs: pd.DataFrame, out_csv: str | os.PathLike) -> None:
    """Write the pairs CSV (columns :data:`PAIR_COLUMNS`) atomically."""
    with atomic_path(out_csv) as tmp:
        pairs.to_csv(tmp, columns=list(PAIR_COLUMNS), index=False, float_format="%.7g")


def write_summary(summary: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a summary dict as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")


def select_pairs_file(estimates_path: str | os.PathLike, out_csv: str | os.PathLike,
                      mem_threshold: float = DEFAULT_MEM_THRESHOLD,
                      infl_threshold: float = DEFAULT_INFL_THRESHOLD) -> dict[str, Any]:
    """Select pairs from ``estimates.h5``, write them to ``out_csv``, return the summary.

    Only rows with mem >= ``mem_threshold`` are read from a full influence matrix.
    """
    estimates = read_estimates(estimates_path)
    if estimates.attrs["influence"] == "none":
        raise StoreError(f"{estimates_path}: holds no influence estimates (influence = none); "
                         f"run `longtail estimate --influence same-class`")
    blocks = iter_influence(estimates_path, train_rows=estimates.mem >= mem_threshold)
    pairs = select_pairs(estimates, blocks, mem_threshold, infl_threshold)
    write_pairs(pairs, out_csv)
    return summarize_pairs(pairs, estimates, mem_threshold, infl_threshold)


def split_trials(use: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split the trials marked in ``use`` (t,) bool at random into two disjoint halves (t,)
    bool. Subsets are drawn independently per trial (Alg. 1 line 1), so the halves are two
    independent runs of Algorithm 1 with t/2 trials each."""
    chosen = np.flatnonzero(use)
    chosen = np.random.default_rng(seed).permutation(chosen)
    half_a = np.zeros(len(use), bool)
    half_b = np.zeros(len(use), bool)
    half_a[chosen[:len(chosen) // 2]] = True
    half_b[chosen[len(chosen) // 2:2 * (len(chosen) // 2)]] = True
    return half_a, half_b


def jaccard_table(pairs_a: pd.DataFrame, pairs_b: pd.DataFrame,
                  thresholds: Sequence[float]) -> pd.DataFrame:
    """Jaccard similarity of the pair sets {(i, j): infl >= threshold} of two selections (made
    at a threshold <= min(thresholds)); NaN where both are empty."""
    rows = []
    for threshold in thresholds:
        a = set(_pair_keys(pairs_a[pairs_a["infl"] >= threshold]))
        b = set(_pair_keys(pairs_b[pairs_b["infl"] >= threshold]))
        union = len(a | b)
        rows.append({"threshold": float(threshold), "pairs_a": len(a), "pairs_b": len(b),
                     "intersection": len(a & b),
                     "jaccard": len(a & b) / union if union else float("nan")})
    return pd.DataFrame(rows, columns=list(CONSISTENCY_COLUMNS))


def _pair_keys(pairs: pd.DataFrame) -> list[tuple[int, int]]:
    return list(zip(pairs["train_index"].tolist(), pairs["test_index"].tolist(), strict=True))


def consistency_table(store_path: str | os.PathLike,
                      thresholds: Sequence[float] = DEFAULT_CONSISTENCY_THRESHOLDS,
                      mem_threshold: float = DEFAULT_MEM_THRESHOLD, seed: int = 0,
                      min_trials: int = DEFAULT_MIN_TRIALS) -> pd.DataFrame:
    """Selection consistency (Section 2, Sec. C): split the valid trials of ``store_path`` into
    two independent halves, estimate mem and same-class influence and select pairs from each
    half, and tabulate the Jaccard similarity of the two pair sets for each infl threshold."""
    if not len(thresholds):
        raise ValueError("need at least one infl threshold")
    half_a, half_b = split_trials(valid_trials(store_path), seed)
    selections = []
    for half in (half_a, half_b):
        estimates, blocks = compute_estimates(store_path, influence="same-class",
                                              min_trials=min_trials, trials=half)
        selections.append(select_pairs(estimates, blocks, mem_threshold, min(thresholds)))
    return jaccard_table(*selections, thresholds)
