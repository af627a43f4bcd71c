"""The Python API for correctness arrays from anywhere: no HDF5, no torch.

>>> import longtail
>>> result = longtail.estimate(mask, train_correct, test_correct, train_labels, test_labels)
>>> result.to_frame()          # per training example: mem, mem_se, p_in, p_out, n_in, n_out
>>> result.pairs(mem=0.25, infl=0.15)   # high-influence pairs (Section 2)

The arithmetic is :mod:`longtail.algorithm1`'s (Algorithm 1, lines 5 and 7), the same functions
``longtail estimate`` runs on a correctness store, so both give the same numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from longtail.algorithm1 import DEFAULT_MIN_TRIALS, InfluenceBlock
from longtail.estimates import (
    DEFAULT_INFLUENCE,
    INFLUENCE_MODES,
    Estimates,
    compute_estimates,
    write_estimates,
)
from longtail.scores import scores_frame
from longtail.select import DEFAULT_INFL_THRESHOLD, DEFAULT_MEM_THRESHOLD, select_pairs
from longtail.store import CorrectnessStore, TrialResults, store_attr_defaults


@dataclass
class Result:
    """Estimates from arrays: per-example ``estimates``, influence ``blocks`` (one per class
    for same-class influence, one (n, n_test) block for full) and ``p_in``/``p_out``."""

    estimates: Estimates
    blocks: list[InfluenceBlock]
    p_in: np.ndarray
    p_out: np.ndarray
    flipped: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def mem(self) -> np.ndarray:
        return self.estimates.mem

    def to_frame(self) -> pd.DataFrame:
        """Per training example: the columns of :data:`longtail.scores.SCORE_COLUMNS`."""
        extra = {"p_in": self.p_in, "p_out": self.p_out}
        if self.flipped is not None:
            extra["flipped"] = self.flipped
        return scores_frame(self.estimates, extra)

    def pairs(self, mem: float = DEFAULT_MEM_THRESHOLD,
              infl: float = DEFAULT_INFL_THRESHOLD) -> pd.DataFrame:
        """Pairs with mem >= ``mem``, infl >= ``infl`` and equal labels (Section 2), with the
        columns of :data:`longtail.select.PAIR_COLUMNS`."""
        return select_pairs(self.estimates, self.blocks, mem, infl)

    def influence_frame(self) -> pd.DataFrame:
        """Every estimated (train_index, test_index, infl, infl_se), long format."""
        parts = [pd.DataFrame({
            "train_index": np.repeat(block.train_index, len(block.test_index)),
            "test_index": np.tile(block.test_index, len(block.train_index)),
            "infl": block.infl.reshape(-1).astype(np.float64),
            "infl_se": block.infl_se.reshape(-1).astype(np.float64)}) for block in self.blocks]
        if not parts:
            return pd.DataFrame(columns=["train_index", "test_index", "infl", "infl_se"])
        return pd.concat(parts, ignore_index=True)

    def write(self, path: str | os.PathLike) -> None:
        """Write ``estimates.h5`` (the file ``longtail pairs``/``scores``/``explain`` read)."""
        write_estimates(path, self.estimates, self.blocks)


def _bool2d(name: str, array: Any) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (trials x examples), got shape {array.shape}")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be boolean (or 0/1)")
    return array.astype(bool)


def _labels(name: str, labels: Any, size: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (size,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be ({size},) integers, got shape {labels.shape}, "
                         f"dtype {labels.dtype}")
    return labels.astype(np.int64)


def estimate(mask: Any, train_correct: Any, test_correct: Any, train_labels: Any,
             test_labels: Any, *, diverged: Any = None, influence_mode: str = DEFAULT_INFLUENCE,
             min_trials: int = DEFAULT_MIN_TRIALS, train_source_index: Any = None,
             test_source_index: Any = None, flipped: Any = None) -> Result:
    """Algorithm 1 (lines 4-7) on arrays: ``mask`` (t, n), ``train_correct`` (t, n) and
    ``test_correct`` (t, n_test) bool, ``train_labels`` (n,), ``test_labels`` (n_test,).

    ``diverged`` (t,) bool marks trials to leave out; ``influence_mode`` is ``same-class``
    (pairs with y_i = y'_j only, as Section 2 selects), ``full`` or ``none``.
    """
    store = store_from_arrays(mask, train_correct, test_correct, train_labels, test_labels,
                              diverged=diverged, train_source_index=train_source_index,
                              test_source_index=test_source_index, flipped=flipped)
    result = estimate_store_arrays(store, influence_mode=influence_mode, min_trials=min_trials)
    if flipped is None:
        result.flipped = None  # unknown, not "never flipped"
    return result


def store_from_arrays(mask: Any, train_correct: Any, test_correct: Any, train_labels: Any,
                      test_labels: Any, *, diverged: Any = None, train_source_index: Any = None,
                      test_source_index: Any = None, flipped: Any = None,
                      attrs: dict[str, Any] | None = None) -> CorrectnessStore:
    """A correctness store in memory from the five required arrays, every other dataset and
    attribute at its documented default (docs/formats.md); shapes are checked."""
    mask = _bool2d("mask", mask)
    train_correct = _bool2d("train_correct", train_correct)
    test_correct = _bool2d("test_correct", test_correct)
    t, n = mask.shape
    if train_correct.shape != (t, n) or len(test_correct) != t:
        raise ValueError(f"mask {mask.shape}, train_correct {train_correct.shape} and "
                         f"test_correct {test_correct.shape} must have the same trials (rows) "
                         f"and mask/train_correct the same examples (columns)")
    n_test = test_correct.shape[1]
    diverged = np.zeros(t, bool) if diverged is None else np.asarray(diverged, bool)
    if diverged.shape != (t,):
        raise ValueError(f"diverged must be ({t},) bool, got shape {diverged.shape}")
    trials = TrialResults(
        trial=np.arange(t), trial_seed=np.full(t, -1), mask=mask, train_correct=train_correct,
        test_correct=test_correct,
        test_accuracy=test_correct.mean(axis=1) if n_test else np.full(t, np.nan),
        wall_time=np.full(t, np.nan), diverged=diverged)
    subset = int(np.median(mask.sum(axis=1))) if t else 0
    return CorrectnessStore(
        trials=trials, train_labels=_labels("train_labels", train_labels, n),
        test_labels=_labels("test_labels", test_labels, n_test),
        train_source_index=np.arange(n) if train_source_index is None
        else _labels("train_source_index", train_source_index, n),
        test_source_index=np.arange(n_test) if test_source_index is None
        else _labels("test_source_index", test_source_index, n_test),
        train_label_flipped=np.zeros(n, bool) if flipped is None else np.asarray(flipped, bool),
        attrs={**store_attr_defaults(n, n_test, subset), **(attrs or {})})


def estimate_store_arrays(store: CorrectnessStore, *, influence_mode: str = DEFAULT_INFLUENCE,
                          min_trials: int = DEFAULT_MIN_TRIALS) -> Result:
    """Algorithm 1 over the valid trials of an in-memory store (see :func:`estimate`): the
    same :func:`longtail.estimates.compute_estimates` that ``longtail estimate`` runs."""
    if influence_mode not in INFLUENCE_MODES:
        raise ValueError(f"influence_mode must be one of {INFLUENCE_MODES}, "
                         f"got {influence_mode!r}")
    estimates, blocks = compute_estimates(store, influence=influence_mode,
                                          min_trials=min_trials)
    return Result(estimates, list(blocks), estimates.p_in, estimates.p_out,
                  store.train_label_flipped, dict(estimates.attrs))
