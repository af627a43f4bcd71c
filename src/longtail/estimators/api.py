"""The Python API for correctness arrays from anywhere: no HDF5, no torch.

>>> import longtail
>>> result = longtail.estimate(mask, train_correct, test_correct, train_labels, test_labels)
>>> result.to_frame()          # per training example: mem, mem_se, p_in, p_out, n_in, n_out
>>> result.pairs(mem=0.25, infl=0.15)   # high-influence pairs (Section 2)

The arithmetic is :mod:`longtail.estimators.algorithm1`'s (Algorithm 1, lines 5 and 7), the same
functions ``longtail estimate`` runs on a correctness store, so both give the same numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from longtail.estimators.algorithm1 import DEFAULT_MIN_TRIALS, InfluenceBlock
from longtail.estimators.estimates import (
    DEFAULT_INFLUENCE,
    INFLUENCE_MODES,
    Estimates,
    compute_estimates,
    write_estimates,
)
from longtail.estimators.scores import scores_frame
from longtail.estimators.select import DEFAULT_INFL_THRESHOLD, DEFAULT_MEM_THRESHOLD, select_pairs
from longtail.store.correctness import CorrectnessStore, store_from_arrays


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
        """Per training example: the columns of :data:`longtail.estimators.scores.SCORE_COLUMNS`."""
        extra = {"p_in": self.p_in, "p_out": self.p_out}
        if self.flipped is not None:
            extra["flipped"] = self.flipped
        return scores_frame(self.estimates, extra)

    def pairs(self, mem: float = DEFAULT_MEM_THRESHOLD,
              infl: float = DEFAULT_INFL_THRESHOLD) -> pd.DataFrame:
        """Pairs with mem >= ``mem``, infl >= ``infl`` and equal labels (Section 2), with the
        columns of :data:`longtail.estimators.select.PAIR_COLUMNS`."""
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


def estimate_store_arrays(store: CorrectnessStore, *, influence_mode: str = DEFAULT_INFLUENCE,
                          min_trials: int = DEFAULT_MIN_TRIALS) -> Result:
    """Algorithm 1 over the valid trials of an in-memory store (see :func:`estimate`): the
    same :func:`longtail.estimators.estimates.compute_estimates` that ``longtail estimate`` runs."""
    if influence_mode not in INFLUENCE_MODES:
        raise ValueError(f"influence_mode must be one of {INFLUENCE_MODES}, "
                         f"got {influence_mode!r}")
    estimates, blocks = compute_estimates(store, influence=influence_mode,
                                          min_trials=min_trials)
    return Result(estimates, list(blocks), estimates.p_in, estimates.p_out,
                  store.train_label_flipped, dict(estimates.attrs))
