"""How much do the estimates depend on the model? Agreement of two sets of estimates made on
the same training set (Section 1.1's cross-architecture experiments, reported in Sec. C; and the
last-layer-only estimates of Section 3, "Does the last layer suffice for memorization?").

Agreement is measured as the paper does: the correlation of the memorization estimates and the
Jaccard similarity of the selected sets (examples with mem >= theta_mem, high-influence pairs).

Across architectures the comparison uses the trials the studies share. Trial k's subset I_k
depends only on (study seed, k), so studies with the same data, seed and subset ratio train
trial k of every architecture on the *same* subset; using the common trial ids (0..min t - 1)
gives both sides the same subsets and the same number of trials t, so neither side's estimates
are noisier merely because it has more or fewer trials. Estimation noise still lowers every
agreement below 1, so each comparison is reported next to a noise baseline at equal footing:
the common trials are split into two disjoint random halves, and the same architecture's two
halves are compared with each other (within) and with the other architecture's other half
(across); both then use t/2 trials on disjoint subsets.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from longtail.estimators.algorithm1 import DEFAULT_MIN_TRIALS
from longtail.estimators.estimates import (
    Estimates,
    compute_estimates,
    iter_influence,
    read_estimates,
)
from longtail.estimators.reliability import memorized_table
from longtail.estimators.select import (
    DEFAULT_CONSISTENCY_THRESHOLDS,
    DEFAULT_INFL_THRESHOLD,
    DEFAULT_MEM_THRESHOLD,
    is_memorized,
    jaccard,
    jaccard_table,
    pair_set,
    select_pairs,
    split_trials,
)
from longtail.store.correctness import StoreError, StoreReader
from longtail.store.io import write_csv

MEM_CURVE_THRESHOLDS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2).tolist())
STAT_COLUMNS = ("group", "comparison", "study_a", "study_b", "arch_a", "arch_b", "trials_a",
                "trials_b", "same_subsets", "n_both_defined", "pearson", "spearman",
                "mem_threshold", "memorized_a", "memorized_b", "memorized_both",
                "jaccard_memorized", "infl_threshold", "pairs_a", "pairs_b", "pairs_both",
                "jaccard_pairs", "test_accuracy_a", "test_accuracy_b")
CURVE_COLUMNS = ("group", "comparison", "study_a", "study_b", "selection", "threshold",
                 "size_a", "size_b", "intersection", "jaccard")


# ----------------------------------------------------------------- pure statistics

def mem_correlation(mem_a: np.ndarray, mem_b: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman correlation of two memorization estimates of the same n examples,
    over the examples where both are defined (NaN: never in or never out of a subset)."""
    mem_a, mem_b = np.asarray(mem_a, np.float64), np.asarray(mem_b, np.float64)
    if mem_a.shape != mem_b.shape:
        raise ValueError(f"mem arrays differ in shape: {mem_a.shape} vs {mem_b.shape}")
    both = np.isfinite(mem_a) & np.isfinite(mem_b)
    a, b = mem_a[both], mem_b[both]
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "n": int(both.sum())}
    return {"pearson": float(stats.pearsonr(a, b).statistic),
            "spearman": float(stats.spearmanr(a, b).statistic), "n": int(both.sum())}


def agreement(est_a: Estimates, est_b: Estimates, pairs_a: pd.DataFrame,
              pairs_b: pd.DataFrame, mem_threshold: float = DEFAULT_MEM_THRESHOLD,
              infl_threshold: float = DEFAULT_INFL_THRESHOLD) -> dict[str, Any]:
    """Correlation of mem, and sizes, overlap and Jaccard similarity of the memorized sets
    (mem >= ``mem_threshold``, exact) and of the high-influence pair sets
    (infl >= ``infl_threshold``; pairs tables as :func:`longtail.estimators.select.select_pairs`
    makes them) of two estimates."""
    corr = mem_correlation(est_a.mem, est_b.mem)
    mem_set_a = is_memorized(est_a, mem_threshold)
    mem_set_b = is_memorized(est_b, mem_threshold)
    set_a, set_b = pair_set(pairs_a, infl_threshold), pair_set(pairs_b, infl_threshold)
    return {
        "n_both_defined": corr["n"], "pearson": corr["pearson"], "spearman": corr["spearman"],
        "mem_threshold": float(mem_threshold), "memorized_a": int(mem_set_a.sum()),
        "memorized_b": int(mem_set_b.sum()), "memorized_both": int((mem_set_a & mem_set_b).sum()),
        "jaccard_memorized": jaccard(mem_set_a, mem_set_b),
        "infl_threshold": float(infl_threshold), "pairs_a": len(set_a), "pairs_b": len(set_b),
        "pairs_both": len(set_a & set_b), "jaccard_pairs": jaccard(set_a, set_b)}


def mem_differences(est_a: Estimates, est_b: Estimates) -> dict[str, Any]:
    """How far two estimates of the same examples' mem~ lie apart in units of their standard
    errors: the share of examples with |mem_a - mem_b| <= 1.96 sqrt(se_a^2 + se_b^2) (about
    95% when both estimate the same mem from independent trials), and the mean and largest
    |mem_a - mem_b|."""
    diff = np.abs(np.asarray(est_a.mem) - np.asarray(est_b.mem))
    se = np.sqrt(np.asarray(est_a.mem_se) ** 2 + np.asarray(est_b.mem_se) ** 2)
    both = np.isfinite(diff) & np.isfinite(se)
    within = (diff[both] <= 1.96 * se[both]) | (diff[both] == 0)
    return {"mem_within_1.96_se": float(within.mean()) if both.any() else float("nan"),
            "mem_abs_difference_mean": float(diff[both].mean()) if both.any() else float("nan"),
            "mem_abs_difference_max": float(diff[both].max()) if both.any() else float("nan"),
            "identical": bool(np.array_equal(est_a.mem, est_b.mem, equal_nan=True))}


def agreement_files(path_a: str | os.PathLike, path_b: str | os.PathLike,
                    mem_threshold: float = DEFAULT_MEM_THRESHOLD,
                    infl_threshold: float = DEFAULT_INFL_THRESHOLD) -> dict[str, Any]:
    """Agreement of two estimates files of the same examples (two runs, two architectures,
    two trial ranges): :func:`agreement` with pairs selected from each at the same
    thresholds, and :func:`mem_differences`."""
    estimates = [read_estimates(path) for path in (path_a, path_b)]
    if not np.array_equal(estimates[0].train_source_index, estimates[1].train_source_index):
        raise StoreError(f"{path_a} and {path_b} estimate different training examples")
    pairs = [select_pairs(est, iter_influence(path, is_memorized(est, mem_threshold)),
                          mem_threshold, infl_threshold)
             for est, path in zip(estimates, (path_a, path_b), strict=True)]
    return {"trials_a": int(estimates[0].attrs.get("n_valid_trials", -1)),
            "trials_b": int(estimates[1].attrs.get("n_valid_trials", -1)),
            **agreement(*estimates, *pairs, mem_threshold, infl_threshold),
            **mem_differences(*estimates)}


# ----------------------------------------------------------------- studies' stores

@dataclass
class Selection:
    """Estimates from one study's store restricted to some of its trials, and the pairs they
    select at the lowest influence threshold of interest."""

    study: str
    arch: str
    trials: np.ndarray  # trial ids used
    estimates: Estimates
    pairs: pd.DataFrame
    test_accuracy: float


@dataclass
class StoreTrials:
    """What the comparison needs to know about a store's trials before estimating."""

    path: str | os.PathLike
    arch: str
    trial: np.ndarray        # (t,) ids
    valid: np.ndarray        # (t,) bool, not diverged
    test_accuracy: np.ndarray
    train_source_index: np.ndarray
    test_source_index: np.ndarray
    train_labels: np.ndarray

    @classmethod
    def read(cls, path: str | os.PathLike) -> StoreTrials:
        with StoreReader(path) as store:
            return cls(path=path, arch=str(store.attrs.get("arch", "")), trial=store.trial_ids(),
                       valid=~store.array("diverged"), test_accuracy=store.array("test_accuracy"),
                       train_source_index=store.array("train_source_index"),
                       test_source_index=store.array("test_source_index"),
                       train_labels=store.array("train_labels"))

    def rows(self, trial_ids: np.ndarray) -> np.ndarray:
        """(t,) bool over this store's rows: the trials with the given ids."""
        return np.isin(self.trial, trial_ids)

    def masks(self, trial_ids: np.ndarray) -> np.ndarray:
        with StoreReader(self.path) as store:
            return store.array("mask", np.flatnonzero(self.rows(trial_ids)))


def common_trials(stores: Mapping[str, StoreTrials]) -> np.ndarray:
    """Sorted ids of the trials every store has and none diverged in; refuses stores of
    different data (examples or labels differ) or whose common trials used different subsets
    (they would not be the same I_k, e.g. another seed or subset ratio)."""
    names = list(stores)
    first = stores[names[0]]
    for name in names[1:]:
        other = stores[name]
        for field in ("train_source_index", "test_source_index", "train_labels"):
            if not np.array_equal(getattr(first, field), getattr(other, field)):
                raise StoreError(f"{other.path} and {first.path} hold different data "
                                 f"({field} differs); compare studies of the same data")
    ids = None
    for store in stores.values():
        valid = set(store.trial[store.valid].tolist())
        ids = valid if ids is None else ids & valid
    common = np.array(sorted(ids), np.int64)
    if len(common) < 2:
        raise StoreError(f"the stores of {', '.join(names)} share {len(common)} valid trials; "
                         f"need at least 2")
    reference = first.masks(common)
    for name in names[1:]:
        if not np.array_equal(stores[name].masks(common), reference):
            raise StoreError(f"{stores[name].path} and {first.path} trained their common trials "
                             f"on different subsets I_k (different seed or subset ratio)")
    return common


def select_on_trials(study: str, store: StoreTrials, trial_ids: np.ndarray,
                     mem_threshold: float, infl_threshold: float,
                     min_trials: int = DEFAULT_MIN_TRIALS) -> Selection:
    """Algorithm 1 on the given trials of a store, and the pairs selected from it (Section 2)."""
    rows = store.rows(trial_ids)
    estimates, blocks = compute_estimates(store.path, influence="same-class",
                                          min_trials=min_trials, trials=rows)
    pairs = select_pairs(estimates, blocks, mem_threshold, infl_threshold)
    return Selection(study=study, arch=store.arch, trials=np.asarray(trial_ids),
                     estimates=estimates, pairs=pairs,
                     test_accuracy=float(store.test_accuracy[rows & store.valid].mean()))


def _compare(group: str, comparison: str, a: Selection, b: Selection, same_subsets: bool,
             mem_threshold: float, infl_threshold: float,
             curve_thresholds: Sequence[float]) -> tuple[dict[str, Any], pd.DataFrame]:
    head = {"group": group, "comparison": comparison, "study_a": a.study, "study_b": b.study}
    row = {**head, "arch_a": a.arch, "arch_b": b.arch, "trials_a": len(a.trials),
           "trials_b": len(b.trials), "same_subsets": same_subsets,
           **agreement(a.estimates, b.estimates, a.pairs, b.pairs, mem_threshold,
                       infl_threshold),
           "test_accuracy_a": a.test_accuracy, "test_accuracy_b": b.test_accuracy}
    curves = []
    for selection, table in (
            ("memorized", memorized_table(a.estimates, b.estimates, MEM_CURVE_THRESHOLDS)),
            ("pairs", jaccard_table(a.pairs, b.pairs, curve_thresholds).rename(
                columns={"pairs_a": "size_a", "pairs_b": "size_b"}))):
        curves.append(table.assign(selection=selection, **head))
    return row, pd.concat(curves, ignore_index=True)[list(CURVE_COLUMNS)]


def compare_group(group: str, store_paths: Mapping[str, str | os.PathLike], *,
                  mem_threshold: float = DEFAULT_MEM_THRESHOLD,
                  infl_threshold: float = DEFAULT_INFL_THRESHOLD, seed: int = 0,
                  min_trials: int = DEFAULT_MIN_TRIALS,
                  curve_thresholds: Sequence[float] = DEFAULT_CONSISTENCY_THRESHOLDS
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Compare the studies of one group (same data and subsets, different architectures).

    For every pair of studies: ``same trials`` (all common trials, hence the same subsets
    I_k on both sides), and at half the trials, on disjoint random halves of the common trials,
    ``across halves`` (study a's first half vs study b's second) next to the noise baselines
    ``within <study>`` (a study's first half vs its own second half). Returns the statistics
    (:data:`STAT_COLUMNS`), the Jaccard curves over thresholds (:data:`CURVE_COLUMNS`) and
    the per-example mem of every study on the common trials.
    """
    if len(store_paths) < 2:
        raise ValueError(f"group {group} needs at least two studies, got {list(store_paths)}")
    stores = {name: StoreTrials.read(path) for name, path in store_paths.items()}
    common = common_trials(stores)
    in_common = np.ones(len(common), bool)
    half_a, half_b = (common[half] for half in split_trials(in_common, seed))
    low = min(min(curve_thresholds), infl_threshold)
    select = {(name, part): select_on_trials(name, store, ids, mem_threshold, low, min_trials)
              for name, store in stores.items()
              for part, ids in (("all", common), ("a", half_a), ("b", half_b))}
    rows, curves = [], []
    args = (mem_threshold, infl_threshold, curve_thresholds)
    for name_a, name_b in itertools.combinations(stores, 2):
        for comparison, a, b, same in (
                ("same trials", select[name_a, "all"], select[name_b, "all"], True),
                ("across halves", select[name_a, "a"], select[name_b, "b"], False)):
            row, curve = _compare(group, comparison, a, b, same, *args)
            rows.append(row)
            curves.append(curve)
    for name in stores:
        row, curve = _compare(group, f"within {name}", select[name, "a"], select[name, "b"],
                              False, *args)
        rows.append(row)
        curves.append(curve)
    mem = pd.DataFrame({"train_index": np.arange(len(stores[next(iter(stores))].train_labels)),
                        **{f"mem_{name}": select[name, "all"].estimates.mem for name in stores}})
    return (pd.DataFrame(rows, columns=list(STAT_COLUMNS)),
            pd.concat(curves, ignore_index=True), mem)


def compare_group_files(group: str, store_paths: Mapping[str, str | os.PathLike],
                        stats_csv: str | os.PathLike, curves_csv: str | os.PathLike,
                        mem_csv: str | os.PathLike, **kwargs: Any) -> pd.DataFrame:
    """:func:`compare_group`, written to three CSV files (atomically); returns the statistics."""
    table, curves, mem = compare_group(group, store_paths, **kwargs)
    for frame, path in ((table, stats_csv), (curves, curves_csv), (mem, mem_csv)):
        write_csv(path, frame, float_format="%.6g")
    return table
