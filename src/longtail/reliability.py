"""Whether a selection replicates: the paper's own standard (Section 2, "Selection of pairs";
Sec. C) applied to every selection we report.

* **Split-half Jaccard.** The valid trials are split at random (seeded) into two disjoint
  halves, Algorithm 1 runs on each, and the two memorized sets {i: mem~ >= theta_mem} and the
  two pair sets {(i, j): mem~_i >= theta_mem, infl~_ij >= theta_infl, y_i = y'_j} are compared
  by their Jaccard similarity. The paper chose theta_infl = 0.15 "as a value for which the
  Jaccard similarity coefficient between the two selected sets is >= 0.7".
* **``auto`` thresholds.** The smallest value of a grid whose split-half Jaccard reaches the
  target (mem first, on the memorized sets; then infl, on the pair sets at that mem). When none
  does, the paper's value is used and the selection is reported as not replicating.
* **Pairs expected by chance.** Null: every true influence is zero. For each memorized training
  example independently, its in/out assignments are permuted across the valid trials (a column
  of the mask shuffled), which keeps n_in and every test example's correctness but breaks any
  dependence of correctness on membership; the pairs then selected at the same thresholds are
  counted, averaged over a few permutations.

Every threshold is applied exactly (:func:`longtail.algorithm1.ratio_at_least`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from longtail.algorithm1 import DEFAULT_MIN_TRIALS, ratio_at_least
from longtail.defaults import DEFAULT_GRIDS, DEFAULT_PERMUTATIONS, DEFAULT_TARGET
from longtail.estimates import Estimates, compute_estimates, read_estimates, valid_trials
from longtail.h5 import atomic_path
from longtail.select import (
    is_memorized,
    jaccard,
    jaccard_table,
    select_pairs,
    select_pairs_file,
    split_trials,
)
from longtail.store import StoreError, StoreReader
from longtail.study import derive_rng

PAPER_THRESHOLDS = {"mem": 0.25, "infl": 0.15}  # Section 2
CHANCE_STREAM = 0x5EED_C4A5  # seeds the permutations apart from the split into halves
CHANCE_NULL = ("every true influence is zero: for each memorized training example "
               "independently, its in/out assignments are permuted across the valid trials "
               "(n_in kept); pairs then selected at the same thresholds, mean over "
               "{permutations} permutations")
MEM_COLUMNS = ("threshold", "size_a", "size_b", "intersection", "jaccard")


def memorized_table(est_a: Estimates, est_b: Estimates, thresholds: Sequence[float]
                    ) -> pd.DataFrame:
    """Split-half agreement of the memorized sets {i: mem~_i >= theta} (exact) per theta."""
    rows = []
    for threshold in thresholds:
        a, b = is_memorized(est_a, threshold), is_memorized(est_b, threshold)
        rows.append({"threshold": float(threshold), "size_a": int(a.sum()),
                     "size_b": int(b.sum()), "intersection": int((a & b).sum()),
                     "jaccard": jaccard(a, b)})
    return pd.DataFrame(rows, columns=list(MEM_COLUMNS))


def choose_threshold(table: pd.DataFrame, grid: Sequence[float], target: float
                     ) -> float | None:
    """The smallest grid value whose Jaccard reaches ``target`` (Section 2's procedure), or
    None when no grid value does."""
    jaccards = dict(zip(table["threshold"], table["jaccard"], strict=True))
    for value in sorted(float(v) for v in grid):
        if jaccards.get(value, math.nan) >= target:
            return value
    return None


def _setting(value: float | str, grid: Sequence[float], table: pd.DataFrame, target: float,
             name: str) -> dict[str, Any]:
    """How a threshold was set: fixed, or ``auto`` and whether the grid reached the target."""
    auto = value == "auto"
    chosen = choose_threshold(table, grid, target) if auto else None
    used = (chosen if chosen is not None else PAPER_THRESHOLDS[name]) if auto else float(value)
    row = table[table["threshold"] == used]
    return {"mode": "auto" if auto else "fixed", "grid": [float(v) for v in grid],
            "chosen": chosen, "reached": bool(chosen is not None) if auto else None,
            "used": float(used), "table": _records(table),
            "jaccard": _finite(row["jaccard"].iloc[0]) if len(row) else None,
            "sizes": [int(row[c].iloc[0]) for c in table.columns[1:4]] if len(row) else None}


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{key: (_finite(v) if isinstance(v, float) else v) for key, v in row.items()}
            for row in table.to_dict("records")]


def _values(grid: Sequence[float], extra: float | str, name: str) -> list[float]:
    """The grid plus the fixed (or paper's) value, sorted, each once."""
    fixed = PAPER_THRESHOLDS[name] if extra == "auto" else float(extra)
    return sorted({float(v) for v in grid} | {fixed})


def chance_pairs(store_path: str | os.PathLike, estimates: Estimates, memorized: np.ndarray,
                 thresholds: Sequence[float], permutations: int = DEFAULT_PERMUTATIONS,
                 seed: int = 0, trials: np.ndarray | None = None) -> np.ndarray:
    """(len(thresholds),) float: same-class pairs of the ``memorized`` training examples with
    infl~ >= each threshold (exact) under the null :data:`CHANCE_NULL`, mean over
    ``permutations`` independent permutations of the valid trials of ``store_path`` (of the
    rows ``trials`` marks, if given: those the estimates were computed from)."""
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    columns = np.flatnonzero(memorized)
    with StoreReader(store_path) as store:
        use = ~store.array("diverged")
        if trials is not None:
            use &= trials
        mask = store.array("mask")[use][:, columns]
        test = store.array("test_correct")[use]
    n_in = mask.sum(axis=0).astype(np.int64)
    if not np.array_equal(n_in, estimates.n_in[columns]):
        raise StoreError(f"{store_path}: its trials do not match the estimates (n_in differs)")
    t = len(mask)
    test_hits = test.sum(axis=0).astype(np.int64)
    test32 = test.astype(np.float32)
    labels = estimates.train_labels[columns]
    rng = derive_rng(seed, CHANCE_STREAM)
    counts = np.zeros(len(thresholds), np.int64)
    for _ in range(permutations):
        order = np.argsort(rng.random(mask.shape), axis=0)
        shuffled = np.take_along_axis(mask, order, axis=0).astype(np.float32)
        for label in np.unique(labels):
            rows = labels == label
            tests = np.flatnonzero(estimates.test_labels == label)
            hits_in = np.rint(shuffled[:, rows].T @ test32[:, tests]).astype(np.int64)
            n_in_c = n_in[rows, None]
            numerator = hits_in * t - test_hits[None, tests] * n_in_c
            denominator = n_in_c * (t - n_in_c)
            for k, threshold in enumerate(thresholds):
                counts[k] += int(ratio_at_least(numerator, denominator, threshold).sum())
    return counts / permutations


def reliability(store_path: str | os.PathLike, estimates_path: str | os.PathLike,
                thresholds: Mapping[str, Any], seed: int = 0,
                min_trials: int = DEFAULT_MIN_TRIALS, trials: np.ndarray | None = None
                ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Split-half Jaccard of the memorized and pair sets over the grids, the thresholds to use
    (fixed, or ``auto``), and the pairs expected by chance at every infl value.

    ``thresholds`` is the config's ``thresholds`` (mem, infl: number or "auto"; grid, target,
    chance_permutations optional). Returns the report (``reliability.json``) and the pair
    table over infl values (``consistency.csv``, :data:`longtail.select.CONSISTENCY_COLUMNS`).
    ``trials`` (boolean over the store's rows) restricts everything to those trials, as
    ``longtail estimate --trials`` does (``estimates_path`` must come from the same trials).
    """
    target = float(thresholds.get("target", DEFAULT_TARGET))
    grids = {**DEFAULT_GRIDS, **thresholds.get("grid", {})}
    permutations = int(thresholds.get("chance_permutations", DEFAULT_PERMUTATIONS))
    use = valid_trials(store_path) if trials is None else valid_trials(store_path) & trials
    half_a, half_b = split_trials(use, seed)
    halves = [compute_estimates(store_path, influence="same-class", min_trials=min_trials,
                                trials=half) for half in (half_a, half_b)]
    halves = [(est, list(blocks)) for est, blocks in halves]
    mem_values = _values(grids["mem"], thresholds["mem"], "mem")
    mem = _setting(thresholds["mem"], grids["mem"],
                   memorized_table(halves[0][0], halves[1][0], mem_values), target, "mem")
    infl_values = _values(grids["infl"], thresholds["infl"], "infl")
    pairs = [select_pairs(est, blocks, mem["used"], min(infl_values)) for est, blocks in halves]
    table = jaccard_table(*pairs, infl_values)
    infl = _setting(thresholds["infl"], grids["infl"], table, target, "infl")
    estimates = read_estimates(estimates_path)
    chance = chance_pairs(store_path, estimates, is_memorized(estimates, mem["used"]),
                          infl_values, permutations, seed, trials)
    report = {
        "target": target, "seed": seed, "half_trials": [int(half_a.sum()), int(half_b.sum())],
        "mem": mem, "infl": infl,
        "chance": {"null": CHANCE_NULL.format(permutations=permutations),
                   "permutations": permutations, "thresholds": infl_values,
                   "pairs": [float(c) for c in chance],
                   "at_used": float(chance[infl_values.index(infl["used"])])}}
    return report, table


def write_reliability(report: Mapping[str, Any], table: pd.DataFrame,
                      json_path: str | os.PathLike, csv_path: str | os.PathLike) -> None:
    """``reliability.json`` and ``consistency.csv``, each atomically."""
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)


def read_reliability(path: str | os.PathLike) -> dict[str, Any]:
    with open(path) as fh:
        return json.load(fh)


def summary_fields(report: Mapping[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` adds from the reliability report (the verdict in words is
    :func:`longtail.reporting.reliability.reliability_note`)."""
    target = report["target"]
    mem, infl = report["mem"], report["infl"]
    replicates = infl["jaccard"] is not None and infl["jaccard"] >= target
    mem_replicates = mem["jaccard"] is not None and mem["jaccard"] >= target
    return {
        "replicates": bool(replicates), "memorized_replicates": bool(mem_replicates),
        "replicates_target": target,
        "jaccard_pairs": infl["jaccard"], "jaccard_memorized": mem["jaccard"],
        "split_half_pairs": infl["sizes"], "split_half_memorized": mem["sizes"],
        "split_half_trials": report["half_trials"], "split_seed": report["seed"],
        "n_pairs_chance": report["chance"]["at_used"], "chance_null": report["chance"]["null"],
        "mem_threshold_mode": mem["mode"], "infl_threshold_mode": infl["mode"],
        "threshold_search": {name: {"grid": s["grid"], "reached": s["reached"],
                                    "chosen": s["chosen"],
                                    "jaccard": [r["jaccard"] for r in s["table"]
                                                if r["threshold"] in s["grid"]]}
                             for name, s in (("mem", mem), ("infl", infl))
                             if s["mode"] == "auto"},
    }


def select_at_report(estimates_path: str | os.PathLike, report: Mapping[str, Any],
                     out_csv: str | os.PathLike) -> dict[str, Any]:
    """Select the pairs at the thresholds the reliability ``report`` settled on and write them;
    returns the Section 3 summary with its reliability (:func:`summary_fields`)."""
    summary = select_pairs_file(estimates_path, out_csv, report["mem"]["used"],
                                report["infl"]["used"])
    summary.update(summary_fields(report))
    return summary
