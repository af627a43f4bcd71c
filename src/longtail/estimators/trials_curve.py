"""The trials curve: how the split-half reliability of a study's selections grows with t.

Section 2 accepts a selection when the Jaccard similarity of the sets chosen from two disjoint
halves of the trials reaches 0.7. That Jaccard depends on t: each half's estimates have
standard errors of order 1/sqrt(t/2), so the sets agree more as t grows. The curve evaluates,
on the trials of one store and without retraining, the first t' trials for t' = 128, 256,
512, ... and t: at each prefix the R-split mean Jaccard (with its spread and the mean set
sizes per half, :class:`longtail.estimators.reliability.SplitHalves`) of the memorized set
at θ_mem and of the pairs at every θ_infl of the grid. A prefix is the trials with ids below t' (the
trials of a study with ``trials: t'``: a trial depends only on the study seed and its id).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from longtail.config.defaults import DEFAULT_SPLITS, SELECTIONS
from longtail.estimators.algorithm1 import DEFAULT_MIN_TRIALS, TooFewTrialsWarning
from longtail.estimators.reliability import SplitHalves, Trials
from longtail.store.correctness import StoreError, StoreReader

FIRST_PREFIX = 128
CURVE_COLUMNS = ("t", "set", "mem", "infl", "size_a", "size_b", "intersection", "jaccard",
                 "jaccard_min", "jaccard_max", "jaccard_std", "jaccard_splits", "half_trials")


def prefixes(t: int, first: int = FIRST_PREFIX) -> list[int]:
    """The prefixes the curve evaluates: ``first``, 2 ``first``, 4 ``first``, ... below
    ``t``, then ``t`` itself; a study of fewer than 8 ``first`` trials starts at the power of
    two nearest t / 8 (at least 8), so that its curve has four points."""
    if t < 2:
        raise ValueError(f"a trials curve needs at least 2 trials, got {t}")
    if t < 8 * first:
        first = max(8, 2 ** max(int(math.log2(t / 8)), 0))
    points, size = [], first
    while size < t:
        points.append(size)
        size *= 2
    return [*points, t]


def curve_point(trials: Trials, ids: np.ndarray, valid: np.ndarray, t: int, mem: float,
                infl: Sequence[float], seed: int, splits: int = DEFAULT_SPLITS,
                min_trials: int = DEFAULT_MIN_TRIALS) -> pd.DataFrame:
    """The rows of :data:`CURVE_COLUMNS` at one prefix ``t``: the memorized set at ``mem``
    and the pairs at each ``infl``, over the valid trials with ids below ``t``.

    ``trials`` holds the valid trials (in memory, store order), ``ids`` (t_all,) the trial
    ids of all the store's rows and ``valid`` (t_all,) which rows did not diverge."""
    use = valid & (ids < t)
    keep = (ids[valid] < t)
    prefix = Trials(trials.mask[keep], trials.train_correct[keep], trials.test_correct[keep],
                    trials.train_labels, trials.test_labels)
    with warnings.catch_warnings():  # a short prefix leaves examples in few trials: expected
        warnings.simplefilter("ignore", TooFewTrialsWarning)
        halves = SplitHalves(prefix, use, seed, splits, min_trials)
    memorized = halves.memorized_table([mem]).rename(columns={"threshold": "mem"})
    memorized.insert(1, "infl", np.nan)
    pairs = halves.pair_table(mem, list(infl)).rename(
        columns={"threshold": "infl", "pairs_a": "size_a", "pairs_b": "size_b"})
    pairs.insert(0, "mem", float(mem))
    table = pd.concat([pairs.assign(set="pairs"), memorized.assign(set="memorized")],
                      ignore_index=True)
    table["t"] = int(t)
    table["half_trials"] = int(halves.half_trials[0])
    return table[list(CURVE_COLUMNS)]


def trials_curve(trials: Trials, ids: np.ndarray, valid: np.ndarray, mem: float,
                 infl: Sequence[float], seed: int, splits: int = DEFAULT_SPLITS,
                 min_trials: int = DEFAULT_MIN_TRIALS, points: Sequence[int] | None = None
                 ) -> pd.DataFrame:
    """:func:`curve_point` at every prefix (:func:`prefixes` of the largest id + 1, or
    ``points``), one table."""
    t = int(ids.max()) + 1
    points = prefixes(t) if points is None else sorted({int(p) for p in points})
    return pd.concat([curve_point(trials, ids, valid, p, mem, infl, seed, splits, min_trials)
                      for p in points], ignore_index=True)


def read_curve_trials(store_path: str | os.PathLike) -> tuple[Trials, np.ndarray, np.ndarray]:
    """The valid trials of a store in memory, the ids of all its rows and which are valid:
    what :func:`trials_curve` counts from. Refuses a store whose trial ids are not 0..t-1
    (a prefix would not be a study with fewer trials)."""
    with StoreReader(store_path) as store:
        ids = np.asarray(store.trial_ids(), np.int64)
        valid = ~store.array("diverged")
        if not np.array_equal(np.sort(ids), np.arange(len(ids))):
            raise StoreError(f"{store_path}: its trial ids are not 0..{len(ids) - 1}, so its "
                             f"prefixes are not the trials of smaller studies")
        trials = Trials(*(store.array(name)[valid]
                          for name in ("mask", "train_correct", "test_correct")),
                        store.array("train_labels"), store.array("test_labels"))
    return trials, ids, valid


def store_curve(store_path: str | os.PathLike, mem: float, infl: Sequence[float], seed: int,
                splits: int = DEFAULT_SPLITS, min_trials: int = DEFAULT_MIN_TRIALS,
                points: Sequence[int] | None = None) -> pd.DataFrame:
    """:func:`trials_curve` of a correctness store (read once)."""
    trials, ids, valid = read_curve_trials(store_path)
    return trials_curve(trials, ids, valid, mem, infl, seed, splits, min_trials, points)


def curve_of(table: pd.DataFrame, set_name: str, infl: float | None = None) -> pd.DataFrame:
    """The rows of one selection, by prefix: the memorized set, or the pairs at ``infl``."""
    if set_name not in SELECTIONS:
        raise ValueError(f"set must be one of {', '.join(SELECTIONS)}, got {set_name!r}")
    rows = table[table["set"] == set_name]
    if set_name == "pairs":
        rows = rows[np.isclose(rows["infl"], float(infl))]
    return rows.sort_values("t").reset_index(drop=True)
