"""Welch's statistics of independent groups of runs (Section 3's removal experiments): the
difference of two means with its Welch interval, the Welch-Satterthwaite degrees of freedom,
and the number of random removals that costs as much accuracy as a targeted one. Arrays in,
arrays out; :mod:`longtail.estimators.removal` applies them to the removal runs (and re-exports
them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95  # confidence level of every interval the removal experiments report


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; NaN for fewer than two values)."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan


# ---------------------------------------------------------------- intervals

def satterthwaite_df(terms: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom of a variance sum_i v_i of independent terms
    v_i = c_i^2 s_i^2 / R_i, each from R_i runs: (sum v_i)^2 / sum(v_i^2 / (R_i - 1)), over
    axis 0; infinite when every term is 0."""
    terms = np.asarray(terms, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    total = terms.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = (terms ** 2 / (counts - 1)).sum(axis=0)
        return np.where(spread > 0, total ** 2 / spread, np.where(total == 0, np.inf, np.nan))


def t_quantile(df: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Two-sided critical value of Student's t with ``df`` degrees of freedom (normal for
    infinite df)."""
    return stats.t.ppf(0.5 + level / 2, df)


@dataclass(frozen=True)
class Difference:
    """mean_a - mean_b of two independent groups of runs with its Welch interval (arrays)."""

    mean: np.ndarray
    se: np.ndarray
    df: np.ndarray
    low: np.ndarray
    high: np.ndarray


def welch_difference(mean_a: np.ndarray, std_a: np.ndarray, runs_a: np.ndarray,
                     mean_b: np.ndarray, std_b: np.ndarray, runs_b: np.ndarray,
                     level: float = LEVEL) -> Difference:
    """Welch's interval for mean_a - mean_b from each group's mean, sample std (ddof 1) and
    number of runs: difference +- t(level, Welch-Satterthwaite df) * sqrt(s_a^2/R_a +
    s_b^2/R_b). Unpaired: Fig. 2's memorized and random runs share no seed or subset. NaN
    where a group has fewer than two runs."""
    runs_a, runs_b = np.asarray(runs_a, np.float64), np.asarray(runs_b, np.float64)
    terms = np.stack(np.broadcast_arrays(np.asarray(std_a, np.float64) ** 2 / runs_a,
                                         np.asarray(std_b, np.float64) ** 2 / runs_b))
    mean = np.asarray(mean_a, np.float64) - np.asarray(mean_b, np.float64)
    se = np.sqrt(terms.sum(axis=0))
    df = satterthwaite_df(terms, np.stack(np.broadcast_arrays(runs_a, runs_b, terms[0])[:2]))
    half = t_quantile(df, level) * se
    return Difference(mean=mean, se=se, df=df, low=mean - half, high=mean + half)


@dataclass(frozen=True)
class Equivalent:
    """How many random removals cost as much accuracy as a targeted removal (Section 3,
    "comparable to the effect of removing 11,000 random examples").

    ``count``: interpolated k (NaN when ``beyond``); ``low``/``high``: the ``level`` interval
    (``high`` NaN when it reaches ``largest``, i.e. "more than largest"; both NaN when no k
    run is compatible); ``beyond``: the targeted removal costs more than removing ``largest``
    random examples, the largest k run.
    """

    count: float
    low: float
    high: float
    beyond: bool
    largest: int


def equivalent_random_removal(removed: np.ndarray, mean: np.ndarray, std: np.ndarray,
                              runs: np.ndarray, target_mean: float, target_std: float,
                              target_runs: int, level: float = LEVEL) -> Equivalent:
    """The number k of random removals whose accuracy equals the target's (the accuracy after
    removing the pairs' training examples), by linear interpolation of the accuracy between
    the k run (``removed``, ascending, with each k's mean, sample std and number of runs).

    Equal accuracy is equal drop from the full-set baseline, which cancels. The point estimate
    is the smallest k at which the interpolated accuracy reaches the target. The interval
    inverts Welch's test: every integer k in [removed[0], removed[-1]] at which
    |a(k) - target| <= t(level, df) * sqrt(Var a(k) + se_target^2), with a(k) = (1 - w) a_i +
    w a_{i+1}, Var a(k) = (1 - w)^2 se_i^2 + w^2 se_{i+1}^2 and Welch-Satterthwaite df, is
    compatible; the interval spans the compatible k (their hull).
    """
    removed = np.asarray(removed, dtype=np.int64)
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    runs = np.asarray(runs, np.float64)
    if len(removed) < 2 or np.any(np.diff(removed) <= 0):
        raise ValueError("the random-removal curve needs at least two distinct, ascending k")
    largest = int(removed[-1])
    below = np.flatnonzero(mean <= target_mean)
    if not len(below):
        count, beyond = math.nan, True
    elif below[0] == 0:
        count, beyond = float(removed[0]), False
    else:
        i = below[0] - 1
        w = (mean[i] - target_mean) / (mean[i] - mean[i + 1])
        count, beyond = float(removed[i] + w * (removed[i + 1] - removed[i])), False
    k = np.arange(removed[0], largest + 1)
    i = np.clip(np.searchsorted(removed, k, side="right") - 1, 0, len(removed) - 2)
    w = (k - removed[i]) / (removed[i + 1] - removed[i])
    se = std / np.sqrt(runs)
    terms = np.stack([((1 - w) * se[i]) ** 2, (w * se[i + 1]) ** 2,
                      np.full(len(k), target_std ** 2 / target_runs)])
    counts = np.stack([runs[i], runs[i + 1], np.full(len(k), float(target_runs))])
    gap = np.abs((1 - w) * mean[i] + w * mean[i + 1] - target_mean)
    compatible = k[gap <= t_quantile(satterthwaite_df(terms, counts), level)
                   * np.sqrt(terms.sum(axis=0))]
    if not len(compatible):
        return Equivalent(count, math.nan, math.nan, beyond, largest)
    high = math.nan if compatible[-1] == largest else float(compatible[-1])
    return Equivalent(count, float(compatible[0]), high, beyond, largest)
