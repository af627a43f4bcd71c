"""Whether a selection replicates: the paper's own standard (Section 2, "Selection of pairs";
Sec. C) applied to every selection we report.

* **Split-half Jaccard.** The valid trials are split at random (seeded) into two disjoint
  halves, Algorithm 1 runs on each, and the two memorized sets {i: mem~ >= theta_mem} and the
  two pair sets {(i, j): mem~_i >= theta_mem, infl~_ij >= theta_infl, y_i = y'_j} are compared
  by their Jaccard similarity. The paper chose theta_infl = 0.15 "as a value for which the
  Jaccard similarity coefficient between the two selected sets is >= 0.7". One split is noisy
  (+-0.1-0.15 below ~50 pairs per half), so every Jaccard here is the **mean over R random
  half-splits** (``thresholds.splits``), with its spread (min, max, std over the splits) and
  the mean set sizes per half. The store is read once; each half's estimates come from its
  summed trial counts (half B's as all trials' minus half A's), never from files.
* **``auto`` thresholds.** The smallest value of a grid whose mean Jaccard reaches the target
  (mem first, on the memorized sets; then infl, on the pair sets at that mem), for infl only
  where each half also selects at least ``thresholds.min_pairs`` pairs on average. When none
  does, the paper's value is used and the selection is reported as not replicating.
* **Pairs expected by chance.** Null: every true influence is zero. For each memorized training
  example independently, its in/out assignments are permuted across the valid trials (a column
  of the mask shuffled), which keeps n_in and every test example's correctness but breaks any
  dependence of correctness on membership; the pairs then selected at the same thresholds are
  counted, averaged over a few permutations.

Every threshold is applied exactly (:func:`longtail.estimators.algorithm1.ratio_at_least`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from longtail.config.defaults import (
    DEFAULT_GRIDS,
    DEFAULT_MIN_PAIRS,
    DEFAULT_PERMUTATIONS,
    DEFAULT_SPLITS,
    DEFAULT_TARGET,
    PAPER_THRESHOLDS,
)
from longtail.config.study import derive_rng
from longtail.estimators.algorithm1 import (
    DEFAULT_MIN_TRIALS,
    class_layout,
    count_few_trials,
    mem_counts,
    ratio_at_least,
)
from longtail.estimators.estimates import Estimates, read_estimates, valid_trials
from longtail.estimators.select import (
    CONSISTENCY_COLUMNS,
    is_memorized,
    jaccard,
    select_pairs_file,
    split_halves,
)
from longtail.store.correctness import StoreError, StoreReader
from longtail.store.io import write_csv, write_json

CHANCE_STREAM = 0x5EED_C4A5  # seeds the permutations apart from the split into halves
CHANCE_NULL = ("every true influence is zero: for each memorized training example "
               "independently, its in/out assignments are permuted across the valid trials "
               "(n_in kept); pairs then selected at the same thresholds, mean over "
               "{permutations} permutations")
MEM_COLUMNS = ("threshold", "size_a", "size_b", "intersection", "jaccard")
# Added to both tables: the Jaccard's spread over the splits (population std) and the number
# of splits it is defined on (not both halves empty); sizes and jaccard are means over them.
SPREAD_COLUMNS = ("jaccard_min", "jaccard_max", "jaccard_std", "jaccard_splits")
SPREAD_KEYS = ("jaccard_min", "jaccard_max", "jaccard_std")


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


def qualifies(row: Mapping[str, Any], target: float, min_size: float = 0) -> bool:
    """Whether a table row (threshold, size_a|pairs_a, size_b|pairs_b, ..., jaccard) reaches
    ``target`` with at least ``min_size`` selected per half (the means over the splits)."""
    value = row["jaccard"]
    if value is None or not value >= target:
        return False
    if min_size > 0:
        sizes = [row[key] for key in ("pairs_a", "pairs_b", "size_a", "size_b") if key in row]
        return all(size is not None and size >= min_size for size in sizes)
    return True


def choose_threshold(table: pd.DataFrame, grid: Sequence[float], target: float,
                     min_size: float = 0) -> float | None:
    """The smallest grid value whose (mean) Jaccard reaches ``target`` (Section 2's procedure)
    with at least ``min_size`` selected per half on average, or None when no grid value
    does."""
    rows = {float(row["threshold"]): row for row in table.to_dict("records")}
    for value in sorted(float(v) for v in grid):
        if value in rows and qualifies(rows[value], target, min_size):
            return value
    return None


def _setting(value: float | str, grid: Sequence[float], table: pd.DataFrame, target: float,
             name: str, min_size: float = 0) -> dict[str, Any]:
    """How a threshold was set: fixed, or ``auto`` and whether the grid reached the target
    (with ``min_size`` per half); the mean Jaccard at the value used, its spread and the mean
    sizes (half A, half B, intersection)."""
    auto = value == "auto"
    chosen = choose_threshold(table, grid, target, min_size) if auto else None
    used = (chosen if chosen is not None else PAPER_THRESHOLDS[name]) if auto else float(value)
    rows = [r for r in _records(table) if r["threshold"] == used]
    row = rows[0] if rows else None
    return {"mode": "auto" if auto else "fixed", "grid": [float(v) for v in grid],
            "chosen": chosen, "reached": bool(chosen is not None) if auto else None,
            "used": float(used), "table": _records(table),
            "jaccard": row["jaccard"] if row else None,
            **{key: row[key] if row else None for key in SPREAD_KEYS},
            "sizes": [row[c] for c in table.columns[1:4]] if row else None,
            "min_size": min_size,
            "replicates": bool(row is not None and qualifies(row, target, min_size))}


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


# ---------------------------------------------------------------- R split-half Jaccards


@dataclass(frozen=True)
class Trials:
    """The used (valid) trials of a store, in memory, in store order: what every split of
    the trials and the null permutations count from."""

    mask: np.ndarray           # (t, n) bool
    train_correct: np.ndarray  # (t, n) bool
    test_correct: np.ndarray   # (t, n_test) bool
    train_labels: np.ndarray   # (n,)
    test_labels: np.ndarray    # (n_test,)


def read_trials(store_path: str | os.PathLike, use: np.ndarray) -> Trials:
    """The store's trials marked in ``use`` (t,) bool, read once."""
    with StoreReader(store_path) as store:
        return Trials(*(store.array(name)[use]
                        for name in ("mask", "train_correct", "test_correct")),
                      store.array("train_labels"), store.array("test_labels"))


@dataclass(frozen=True)
class HalfCounts:
    """Algorithm 1's counts (:mod:`longtail.estimators.algorithm1`) over one set of trials: ``t``
    trials, per training example ``n_in`` and line 5's ``hits_in`` / ``hits``, per test
    example ``test_hits``. Sums over trials, so the counts of half B are those of all trials
    minus half A's minus the trial out."""

    t: int
    n_in: np.ndarray
    hits_in: np.ndarray
    hits: np.ndarray
    test_hits: np.ndarray

    @classmethod
    def of(cls, trials: Trials, rows: np.ndarray | slice) -> HalfCounts:
        mask, correct = trials.mask[rows], trials.train_correct[rows]
        hits_in, n_in, hits = mem_counts(mask, correct)
        test_hits = np.add.reduce(trials.test_correct[rows].view(np.uint8), axis=0,
                                  dtype=np.int64)
        return cls(len(mask), n_in, hits_in, hits, test_hits)

    def __sub__(self, other: HalfCounts) -> HalfCounts:
        return HalfCounts(self.t - other.t, self.n_in - other.n_in,
                          self.hits_in - other.hits_in, self.hits - other.hits,
                          self.test_hits - other.test_hits)

    def memorized(self, threshold: float) -> np.ndarray:
        """(n,) bool: mem~ >= ``threshold`` (line 5), exact: ``hits_in t - hits n_in`` over
        ``n_in n_out``, as :func:`longtail.estimators.algorithm1.mem_fraction` recovers it."""
        return ratio_at_least(self.hits_in * self.t - self.hits * self.n_in,
                              self.n_in * (self.t - self.n_in), threshold)

    def influential(self, hits_in: np.ndarray, train_index: np.ndarray,
                    test_index: np.ndarray, threshold: float) -> np.ndarray:
        """infl~ >= ``threshold`` (line 7) on the grid ``train_index x test_index`` whose
        ``hits_in`` (trials with i in and j correct) are given, exact."""
        n_in = self.n_in[train_index, None]
        return ratio_at_least(hits_in * self.t - self.test_hits[None, test_index] * n_in,
                              n_in * (self.t - n_in), threshold)


def _hits_in(mask: np.ndarray, test: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
    """Line 7's ``hits_in = M^T C`` over the trials ``rows`` of one grid's float32 columns
    ``mask`` (t, a) and ``test`` (t, b), int64 (exact for counts below 2**24)."""
    return np.rint(mask[rows].T @ test[rows]).astype(np.int64)


def mean_over_splits(values: Sequence[float], counts: np.ndarray, columns: Sequence[str]
                     ) -> pd.DataFrame:
    """A table over ``values`` from per-split counts (splits, values, 3) of (half A, half B,
    intersection): their means, the mean Jaccard over the splits where it is defined (not
    both halves empty; NaN where none is) and its min, max and population std."""
    a, b, both = (counts[..., k].astype(np.float64) for k in range(3))
    union = a + b - both
    with np.errstate(divide="ignore", invalid="ignore"):
        per_split = np.where(union > 0, both / union, np.nan)
    defined = np.isfinite(per_split)
    splits = defined.sum(axis=0)
    some = splits > 0
    mean = np.where(defined, per_split, 0).sum(axis=0) / np.maximum(splits, 1)
    deviation = np.where(defined, per_split - mean, 0)
    std = np.sqrt((deviation ** 2).sum(axis=0) / np.maximum(splits, 1))
    low = np.where(defined, per_split, np.inf).min(axis=0)
    high = np.where(defined, per_split, -np.inf).max(axis=0)
    nan = np.full(len(values), np.nan)
    return pd.DataFrame({
        columns[0]: [float(v) for v in values], columns[1]: a.mean(axis=0),
        columns[2]: b.mean(axis=0), columns[3]: both.mean(axis=0),
        columns[4]: np.where(some, mean, nan), "jaccard_min": np.where(some, low, nan),
        "jaccard_max": np.where(some, high, nan), "jaccard_std": np.where(some, std, nan),
        "jaccard_splits": splits.astype(np.int64)}, columns=[*columns, *SPREAD_COLUMNS])


class SplitHalves:
    """R random half-splits of the used trials (:func:`longtail.estimators.select.split_halves`) and
    each half's counts; the memorized and pair sets of both halves of every split, compared
    per threshold."""

    def __init__(self, trials: Trials, use: np.ndarray, seed: int, splits: int,
                 min_trials: int = DEFAULT_MIN_TRIALS) -> None:
        half_a, half_b = split_halves(use, seed, splits)
        self.trials, self.half_trials = trials, [int(half_a[0].sum()), int(half_b[0].sum())]
        self.rows_a = [np.flatnonzero(h[use]) for h in half_a]  # rows of the used trials
        self.rows_out = [np.flatnonzero(~(a | b)[use]) for a, b in zip(half_a, half_b,
                                                                        strict=True)]
        total = HalfCounts.of(trials, slice(None))
        self.halves = []  # (half A, half B) of each split
        for rows_a, rows_out in zip(self.rows_a, self.rows_out, strict=True):
            a = HalfCounts.of(trials, rows_a)
            self.halves.append((a, total - a - HalfCounts.of(trials, rows_out)))
        n_in = np.array([[h.n_in for h in halves] for halves in self.halves])
        n_out = np.array([[h.t - h.n_in for h in halves] for halves in self.halves])
        count_few_trials(n_in.min(axis=(0, 1)), n_out.min(axis=(0, 1)), min_trials)

    def memorized_table(self, thresholds: Sequence[float]) -> pd.DataFrame:
        """:data:`MEM_COLUMNS` + :data:`SPREAD_COLUMNS` over ``thresholds``: sizes of the two
        halves' memorized sets and their intersection, and their Jaccard, means over the
        splits."""
        counts = np.zeros((len(self.halves), len(thresholds), 3), np.int64)
        for r, (a, b) in enumerate(self.halves):
            for k, threshold in enumerate(thresholds):
                in_a, in_b = a.memorized(threshold), b.memorized(threshold)
                counts[r, k] = in_a.sum(), in_b.sum(), (in_a & in_b).sum()
        return mean_over_splits(thresholds, counts, MEM_COLUMNS)

    def pair_table(self, mem_threshold: float, thresholds: Sequence[float]) -> pd.DataFrame:
        """:data:`longtail.estimators.select.CONSISTENCY_COLUMNS` + :data:`SPREAD_COLUMNS` over the
        infl ``thresholds``: sizes of the two halves' pair sets (mem >= ``mem_threshold``, same
        class) and their intersection, and their Jaccard, means over the splits. Only the
        training examples memorized in some half are counted, per class."""
        memorized = [(a.memorized(mem_threshold), b.memorized(mem_threshold))
                     for a, b in self.halves]
        anywhere = np.logical_or.reduce([m for pair in memorized for m in pair])
        layout = class_layout(self.trials.train_labels, self.trials.test_labels)
        counts = np.zeros((len(self.halves), len(thresholds), 3), np.int64)
        for c in range(len(layout.classes)):
            train = layout.train_index(c)
            train, test = train[anywhere[train]], layout.test_index(c)
            if not len(train) or not len(test):
                continue
            mask = self.trials.mask[:, train].astype(np.float32)
            correct = self.trials.test_correct[:, test].astype(np.float32)
            total = _hits_in(mask, correct, slice(None))
            for r, ((a, b), (mem_a, mem_b)) in enumerate(zip(self.halves, memorized,
                                                             strict=True)):
                hits_a = _hits_in(mask, correct, self.rows_a[r])
                hits_b = total - hits_a - _hits_in(mask, correct, self.rows_out[r])
                for k, threshold in enumerate(thresholds):
                    in_a = mem_a[train, None] & a.influential(hits_a, train, test, threshold)
                    in_b = mem_b[train, None] & b.influential(hits_b, train, test, threshold)
                    counts[r, k] += in_a.sum(), in_b.sum(), (in_a & in_b).sum()
        return mean_over_splits(thresholds, counts, CONSISTENCY_COLUMNS)


def chance_pairs(store_path: str | os.PathLike, estimates: Estimates, memorized: np.ndarray,
                 thresholds: Sequence[float], permutations: int = DEFAULT_PERMUTATIONS,
                 seed: int = 0, trials: np.ndarray | None = None) -> np.ndarray:
    """(len(thresholds),) float: same-class pairs of the ``memorized`` training examples with
    infl~ >= each threshold (exact) under the null :data:`CHANCE_NULL`, mean over
    ``permutations`` independent permutations of the valid trials of ``store_path`` (of the
    rows ``trials`` marks, if given: those the estimates were computed from)."""
    columns = np.flatnonzero(memorized)
    with StoreReader(store_path) as store:
        use = ~store.array("diverged")
        if trials is not None:
            use &= trials
        mask = store.array("mask")[use][:, columns]
        test = store.array("test_correct")[use]
    return _chance_counts(mask, test, estimates, columns, thresholds, permutations, seed,
                          store_path)


def _chance_counts(mask: np.ndarray, test: np.ndarray, estimates: Estimates,
                   columns: np.ndarray, thresholds: Sequence[float], permutations: int,
                   seed: int, where: str | os.PathLike) -> np.ndarray:
    """:func:`chance_pairs` on the used trials in memory: ``mask`` (t, len(columns)) of the
    memorized training examples ``columns``, ``test`` (t, n_test)."""
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    n_in = mask.sum(axis=0).astype(np.int64)
    if not np.array_equal(n_in, estimates.n_in[columns]):
        raise StoreError(f"{where}: its trials do not match the estimates (n_in differs)")
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
    """Split-half Jaccard of the memorized and pair sets over the grids, mean over R random
    half-splits seeded by ``seed``, the thresholds to use (fixed, or ``auto``), and the pairs
    expected by chance at every infl value.

    ``thresholds`` is the config's ``thresholds`` (mem, infl: number or "auto"; grid, target,
    chance_permutations, splits, min_pairs optional). Returns the report
    (``reliability.json``) and the pair table over infl values (``consistency.csv``,
    :data:`longtail.estimators.select.CONSISTENCY_COLUMNS` + :data:`SPREAD_COLUMNS`). ``trials``
    (boolean over the store's rows) restricts everything to those trials, as ``longtail
    estimate --trials`` does (``estimates_path`` must come from the same trials).
    """
    target = float(thresholds.get("target", DEFAULT_TARGET))
    grids = {**DEFAULT_GRIDS, **thresholds.get("grid", {})}
    permutations = int(thresholds.get("chance_permutations", DEFAULT_PERMUTATIONS))
    splits = int(thresholds.get("splits", DEFAULT_SPLITS))
    min_pairs = int(thresholds.get("min_pairs", DEFAULT_MIN_PAIRS))
    use = valid_trials(store_path) if trials is None else valid_trials(store_path) & trials
    data = read_trials(store_path, use)
    halves = SplitHalves(data, use, seed, splits, min_trials)
    mem_values = _values(grids["mem"], thresholds["mem"], "mem")
    mem = _setting(thresholds["mem"], grids["mem"], halves.memorized_table(mem_values),
                   target, "mem")
    infl_values = _values(grids["infl"], thresholds["infl"], "infl")
    table = halves.pair_table(mem["used"], infl_values)
    infl = _setting(thresholds["infl"], grids["infl"], table, target, "infl", min_pairs)
    estimates = read_estimates(estimates_path)
    columns = np.flatnonzero(is_memorized(estimates, mem["used"]))
    chance = _chance_counts(data.mask[:, columns], data.test_correct, estimates, columns,
                            infl_values, permutations, seed, store_path)
    report = {
        "target": target, "seed": seed, "half_trials": halves.half_trials,
        "splits": splits, "split_seed": seed, "min_pairs": min_pairs,
        "mem": mem, "infl": infl,
        "chance": {"null": CHANCE_NULL.format(permutations=permutations),
                   "permutations": permutations, "thresholds": infl_values,
                   "pairs": [float(c) for c in chance],
                   "at_used": float(chance[infl_values.index(infl["used"])])}}
    return report, table


def write_reliability(report: Mapping[str, Any], table: pd.DataFrame,
                      json_path: str | os.PathLike, csv_path: str | os.PathLike) -> None:
    """``reliability.json`` and ``consistency.csv``, each atomically."""
    write_json(json_path, report)
    write_csv(csv_path, table)


def read_reliability(path: str | os.PathLike) -> dict[str, Any]:
    with open(path) as fh:
        return json.load(fh)


def summary_fields(report: Mapping[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` adds from the reliability report (the verdict in words is
    :func:`longtail.estimators.summary.reliability_note`). A selection replicates when its
    mean split-half Jaccard reaches the target and, for the pairs, each half selects at least
    ``min_pairs`` pairs on average (reports of one split, before ``splits``: the Jaccard
    alone)."""
    target = report["target"]
    mem, infl = report["mem"], report["infl"]
    replicates, mem_replicates = (
        setting.get("replicates", setting["jaccard"] is not None and setting["jaccard"] >= target)
        for setting in (infl, mem))
    spread = {f"jaccard_{name}_{stat}": setting.get(f"jaccard_{stat}")
              for name, setting in (("pairs", infl), ("memorized", mem))
              for stat in ("min", "max", "std")}
    return {
        "replicates": bool(replicates), "memorized_replicates": bool(mem_replicates),
        "replicates_target": target,
        "jaccard_pairs": infl["jaccard"], "jaccard_memorized": mem["jaccard"],
        "split_half_pairs": infl["sizes"], "split_half_memorized": mem["sizes"],
        "split_half_trials": report["half_trials"], "split_seed": report["seed"],
        "splits": report.get("splits", 1), "min_pairs": report.get("min_pairs", 0), **spread,
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
