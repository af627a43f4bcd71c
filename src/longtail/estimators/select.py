"""Selection of high-influence pairs (Section 2), the per-study summary (Section 3) and the
consistency of the selection across independent halves of the trials (Section 2, Sec. C).

A pair (i, j) is selected when mem~_i >= theta_mem, infl~_ij >= theta_infl and y_i = y'_j.
NaN estimates (examples never in or never out of a subset) are never selected. Both thresholds
are decided exactly from the integer trial counts
(:func:`longtail.estimators.algorithm1.ratio_at_least`), here, in the consistency check, in Fig. 2's
removal sets (:func:`is_memorized`) and the tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from longtail.config.defaults import (
    DEFAULT_CONSISTENCY_THRESHOLDS,
    DEFAULT_INFL_THRESHOLD,
    DEFAULT_MEM_THRESHOLD,
)
from longtail.config.study import derive_rng
from longtail.estimators.algorithm1 import (
    DEFAULT_MIN_TRIALS,
    InfluenceBlock,
    infl_fraction,
    mem_at_least,
    ratio_at_least,
)
from longtail.estimators.estimates import (
    Estimates,
    EstimatesError,
    compute_estimates,
    fit_report,
    iter_influence,
    read_estimates,
    valid_trials,
)
from longtail.store.correctness import StoreError
from longtail.store.io import write_csv, write_json

PAIR_COLUMNS = ("train_index", "test_index", "label", "mem", "infl", "infl_se",
                "train_source_index", "test_source_index")
EXACT_COLUMNS = ("infl_numerator", "infl_denominator")  # infl~ = numerator / denominator
CONSISTENCY_COLUMNS = ("threshold", "pairs_a", "pairs_b", "intersection", "jaccard")


FLOAT_TOLERANCE = 1e-7  # float32 rounding of a stored estimate near a threshold (< 2e-8)


def has_counts(estimates: Estimates) -> bool:
    """Whether the trial counts behind the estimates are known (not for estimates imported
    from the authors' released files, whose n_in / n_out are -1)."""
    return bool((np.asarray(estimates.n_in) >= 0).all())


def stored_at_least(values: np.ndarray, threshold: float) -> np.ndarray:
    """``values >= threshold`` for estimates without trial counts: the stored float, allowed
    its float32 rounding; NaN never. Achievable values lie 1 / (n_in n_out) >= 4 / t^2 apart,
    more than the tolerance for t < 6,000: exact for the released files' t of 2,000-4,000."""
    values = np.nan_to_num(np.asarray(values, np.float64), nan=-np.inf)
    return values >= float(threshold) - FLOAT_TOLERANCE


def is_memorized(estimates: Estimates, threshold: float) -> np.ndarray:
    """(n,) bool: mem~_i >= ``threshold`` (Section 2; Fig. 2's removal sets), decided exactly
    from the trial counts (the stored value for released estimates); NaN estimates never."""
    if not has_counts(estimates):
        return stored_at_least(estimates.mem, threshold)
    return mem_at_least(estimates.mem, estimates.n_in, estimates.n_out, threshold)


def block_at_least(estimates: Estimates, block: InfluenceBlock, threshold: float,
                   rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """infl~ >= ``threshold`` on the grid of ``block`` (its ``rows``), exact from the counts
    (the stored value for released estimates)."""
    if not has_counts(estimates):
        return stored_at_least(block.infl[rows], threshold)
    return ratio_at_least(*block_fraction(estimates, block, rows), threshold)


def block_fraction(estimates: Estimates, block: InfluenceBlock, rows: np.ndarray | slice
                   = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """The exact influence fractions (numerator, denominator) of ``block`` (its ``rows``)."""
    if estimates.test_hits is None:
        raise EstimatesError("the estimates hold no test_hits (written before exact "
                             "thresholds): rerun `longtail estimate` / the estimate rule")
    train_index = block.train_index[rows]
    return infl_fraction(block.infl[rows], estimates.n_in[train_index, None],
                         estimates.n_out[train_index, None],
                         estimates.test_hits[None, block.test_index])


def select_pairs(estimates: Estimates, blocks: Iterable[InfluenceBlock], mem_threshold: float,
                 infl_threshold: float) -> pd.DataFrame:
    """All pairs with mem >= ``mem_threshold``, infl >= ``infl_threshold`` and y_i = y'_j
    (Section 2), both decided exactly, as a DataFrame with :data:`PAIR_COLUMNS` and the exact
    fraction (:data:`EXACT_COLUMNS`), sorted by (train, test) index."""
    memorized = is_memorized(estimates, mem_threshold)
    exact = has_counts(estimates)
    parts = []
    for block in blocks:
        rows = memorized[block.train_index]
        if not rows.any():
            continue
        train_index = block.train_index[rows]
        if exact:
            numerator, denominator = block_fraction(estimates, block, rows)
            above = ratio_at_least(numerator, denominator, infl_threshold)
        else:
            above = stored_at_least(block.infl[rows], infl_threshold)
            numerator = denominator = np.zeros(above.shape, np.int64)
        same = estimates.train_labels[train_index, None] == \
            estimates.test_labels[None, block.test_index]
        a, b = np.nonzero(above & same)
        parts.append((train_index[a], block.test_index[b], block.infl[rows][a, b],
                      block.infl_se[rows][a, b], numerator[a, b], denominator[a, b]))
    if not parts:
        parts.append((np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0),
                      np.zeros(0, np.int64), np.zeros(0, np.int64)))
    train, test, infl, se, num, den = (np.concatenate(column)
                                       for column in zip(*parts, strict=True))
    train, test = train.astype(np.int64), test.astype(np.int64)
    pairs = pd.DataFrame({
        "train_index": train, "test_index": test, "label": estimates.train_labels[train],
        "mem": estimates.mem[train], "infl": infl.astype(np.float64),
        "infl_se": se.astype(np.float64),
        "train_source_index": estimates.train_source_index[train],
        "test_source_index": estimates.test_source_index[test],
        "infl_numerator": num.astype(np.int64), "infl_denominator": den.astype(np.int64)},
        columns=[*PAIR_COLUMNS, *EXACT_COLUMNS])
    if not exact:  # no counts: later comparisons use the stored floats (pairs_at_least)
        pairs = pairs.drop(columns=list(EXACT_COLUMNS))
    return pairs.sort_values(["train_index", "test_index"], ignore_index=True)


def pairs_at_least(pairs: pd.DataFrame, infl_threshold: float) -> np.ndarray:
    """(len(pairs),) bool: infl >= ``infl_threshold``, exactly when the pairs carry their
    fractions (:func:`select_pairs` adds them; a pairs CSV does not, and compares floats)."""
    if all(column in pairs for column in EXACT_COLUMNS):
        return ratio_at_least(pairs["infl_numerator"].to_numpy(),
                              pairs["infl_denominator"].to_numpy(), infl_threshold)
    return stored_at_least(pairs["infl"].to_numpy(), infl_threshold)


def count_influencers(estimates: Estimates, blocks: Iterable[InfluenceBlock],
                      infl_threshold: float) -> np.ndarray:
    """(n_test,) int64: for each test example j, the number of same-class training examples
    of any mem with infl~_ij >= ``infl_threshold`` (exact); the second reading of Section 3's
    "influenced (above the 0.15 threshold) by a single training example"."""
    counts = np.zeros(len(estimates.test_labels), np.int64)
    for block in blocks:
        same = estimates.train_labels[block.train_index, None] == \
            estimates.test_labels[None, block.test_index]
        above = block_at_least(estimates, block, infl_threshold) & same
        np.add.at(counts, block.test_index, above.sum(axis=0))
    return counts


def summarize_pairs(pairs: pd.DataFrame, estimates: Estimates, mem_threshold: float,
                    infl_threshold: float, influencers: np.ndarray | None = None
                    ) -> dict[str, Any]:
    """The numbers Section 3 reports for a study.

    ``n_test_single_train`` counts test examples that occur in exactly one selected pair, i.e.
    that are influenced above ``infl_threshold`` by a single memorized same-class training
    example ("Of those 31/774/1298 are influenced ... by a single training example").
    Given ``influencers`` (:func:`count_influencers`), ``n_test_single_train_any_mem`` counts
    the test examples of the pairs on which exactly one same-class training example of *any*
    mem has infl >= ``infl_threshold`` (the other reading; see docs/estimates.md).
    Percentages are of all n training / n_test test examples.
    """
    n, n_test = len(estimates.mem), len(estimates.test_labels)
    per_test = pairs["test_index"].value_counts()
    n_memorized = int(is_memorized(estimates, mem_threshold).sum())
    attrs = estimates.attrs
    readings = {} if influencers is None else {
        "n_test_single_train_any_mem": int(
            (np.asarray(influencers)[per_test.index.to_numpy(np.int64)] == 1).sum())}
    return {
        "mem_threshold": float(mem_threshold),
        "infl_threshold": float(infl_threshold),
        "n_pairs": len(pairs),
        "n_test_examples": int(len(per_test)),
        "pct_test_examples": 100.0 * len(per_test) / n_test if n_test else float("nan"),
        "n_test_single_train": int((per_test == 1).sum()),
        **readings,
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
        **fit_report(attrs),
    }


def write_pairs(pairs: pd.DataFrame, out_csv: str | os.PathLike) -> None:
    """Write the pairs CSV (columns :data:`PAIR_COLUMNS`) atomically."""
    write_csv(out_csv, pairs, columns=list(PAIR_COLUMNS), float_format="%.7g")


def write_summary(summary: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a summary dict as indented JSON, atomically."""
    write_json(path, summary)


def select_pairs_file(estimates_path: str | os.PathLike, out_csv: str | os.PathLike,
                      mem_threshold: float = DEFAULT_MEM_THRESHOLD,
                      infl_threshold: float = DEFAULT_INFL_THRESHOLD) -> dict[str, Any]:
    """Select pairs from ``estimates.h5``, write them to ``out_csv``, return the summary (with
    both readings of "influenced by a single training example").

    Only rows with mem >= ``mem_threshold`` are read for the pairs; the count of influencers of
    any mem reads every row once more.
    """
    estimates = read_estimates(estimates_path)
    if estimates.attrs["influence"] == "none":
        raise StoreError(f"{estimates_path}: holds no influence estimates (influence = none); "
                         f"run `longtail estimate --influence same-class`")
    try:
        blocks = iter_influence(estimates_path,
                                train_rows=is_memorized(estimates, mem_threshold))
        pairs = select_pairs(estimates, blocks, mem_threshold, infl_threshold)
        influencers = count_influencers(estimates, iter_influence(estimates_path),
                                        infl_threshold)
    except EstimatesError as err:
        raise EstimatesError(f"{estimates_path}: {err}") from err
    write_pairs(pairs, out_csv)
    return summarize_pairs(pairs, estimates, mem_threshold, infl_threshold, influencers)


def split_trials(use: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split the trials marked in ``use`` (t,) bool at random into two disjoint halves (t,)
    bool. Subsets are drawn independently per trial (Alg. 1 line 1), so the halves are two
    independent runs of Algorithm 1 with t/2 trials each. The first of
    :func:`split_halves`."""
    half_a, half_b = split_halves(use, seed, 1)
    return half_a[0], half_b[0]


def split_halves(use: np.ndarray, seed: int, splits: int) -> tuple[np.ndarray, np.ndarray]:
    """``splits`` random half-splits of the trials marked in ``use`` (t,) bool: half A and
    half B as (splits, t) bool, disjoint within a split, of floor(t_used / 2) trials each (an
    odd trial out is in neither). Split r is the r-th permutation of the used trials drawn
    from ``derive_rng(seed)``, so the first is :func:`split_trials` and the first r splits
    do not depend on ``splits``."""
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    chosen = np.flatnonzero(use)
    half = len(chosen) // 2
    rng = derive_rng(seed)
    half_a = np.zeros((splits, len(use)), bool)
    half_b = np.zeros((splits, len(use)), bool)
    for r in range(splits):
        order = rng.permutation(chosen)
        half_a[r, order[:half]] = True
        half_b[r, order[half:2 * half]] = True
    return half_a, half_b


def jaccard(a: np.ndarray | set, b: np.ndarray | set) -> float:
    """|A & B| / |A | B| of two sets, or of two boolean masks over the same items; NaN when
    both are empty (nothing to agree on). The one Jaccard of the package."""
    if isinstance(a, set) or isinstance(b, set):
        union = len(set(a) | set(b))
        return len(set(a) & set(b)) / union if union else float("nan")
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}")
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else float("nan")


def jaccard_table(pairs_a: pd.DataFrame, pairs_b: pd.DataFrame,
                  thresholds: Sequence[float]) -> pd.DataFrame:
    """Jaccard similarity of the pair sets {(i, j): infl >= threshold} (exact, see
    :func:`pairs_at_least`) of two selections (made at a threshold <= min(thresholds)); NaN
    where both are empty."""
    rows = []
    for threshold in thresholds:
        a, b = pair_set(pairs_a, threshold), pair_set(pairs_b, threshold)
        rows.append({"threshold": float(threshold), "pairs_a": len(a), "pairs_b": len(b),
                     "intersection": len(a & b), "jaccard": jaccard(a, b)})
    return pd.DataFrame(rows, columns=list(CONSISTENCY_COLUMNS))


def pair_set(pairs: pd.DataFrame, infl_threshold: float = -np.inf) -> set[tuple[int, int]]:
    """The (train_index, test_index) pairs of a pairs table with infl >= ``infl_threshold``
    (exact where the pairs carry their fractions, :func:`pairs_at_least`); the one
    key of a pair in the package."""
    kept = pairs[pairs_at_least(pairs, infl_threshold)] if np.isfinite(infl_threshold) \
        else pairs
    return set(zip(kept["train_index"].tolist(), kept["test_index"].tolist(), strict=True))


def consistency_table(store_path: str | os.PathLike,
                      thresholds: Sequence[float] = DEFAULT_CONSISTENCY_THRESHOLDS,
                      mem_threshold: float = DEFAULT_MEM_THRESHOLD, seed: int = 0,
                      min_trials: int = DEFAULT_MIN_TRIALS, trials: np.ndarray | None = None
                      ) -> pd.DataFrame:
    """Selection consistency (Section 2, Sec. C): split the valid trials of ``store_path`` (of
    the rows ``trials`` marks, if given) into two independent halves, estimate mem and
    same-class influence and select pairs from each half, and tabulate the Jaccard similarity
    of the two pair sets for each infl threshold."""
    if not len(thresholds):
        raise ValueError("need at least one infl threshold")
    use = valid_trials(store_path) if trials is None else valid_trials(store_path) & trials
    half_a, half_b = split_trials(use, seed)
    selections = []
    for half in (half_a, half_b):
        estimates, blocks = compute_estimates(store_path, influence="same-class",
                                              min_trials=min_trials, trials=half)
        selections.append(select_pairs(estimates, blocks, mem_threshold, min(thresholds)))
    return jaccard_table(*selections, thresholds)
