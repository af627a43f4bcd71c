"""K-fold cross-validation: out-of-fold predicted probabilities of every training example.

The alternative to Algorithm 1's subsampled trials that confident learning (cleanlab) asks
for: split the n training examples into K folds (seeded), train one model per fold on the
other K - 1 folds with the study's architecture and recipe, and keep the softmax of each
example under the model that did not see it. Repeats r = 0, 1, ... use fresh splits and
seeds; their probabilities average (:func:`mean_probs`).

File layout (``results/<study>/kfold/<K>-<r>.h5``): ``pred_probs`` float32 (n, C),
``fold`` int16 (n,), ``wall_time`` float64 (K,) seconds per model, ``diverged`` bool (K,);
attributes ``folds``, ``repeat``, ``models`` (= K), ``train_size`` (examples per model, mean),
``fingerprint`` (the study's trials fingerprint) and ``data_hash``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from longtail.config.study import derive_rng, derive_seed
from longtail.store.correctness import StoreError
from longtail.store.h5 import create, create_dataset, open_file, read, read_attrs, write_attrs

# "KFD": an entry no trial seed (study seed, k) has in second place.
KFOLD_STREAM = 0x4B4644


def fold_assignment(n: int, folds: int, study_seed: int, repeat: int) -> np.ndarray:
    """(n,) fold of each example: a seeded permutation dealt round-robin, so fold sizes differ
    by at most one."""
    if not 2 <= folds <= n:
        raise StoreError(f"K = {folds} folds need 2 <= K <= n = {n} (config detectors.folds)")
    order = derive_rng(study_seed, KFOLD_STREAM, folds, repeat).permutation(n)
    fold = np.empty(n, dtype=np.int16)
    fold[order] = np.arange(n) % folds
    return fold


def fold_seed(study_seed: int, folds: int, repeat: int, fold: int) -> int:
    """Seed of the model trained without fold ``fold`` (weights and minibatch order)."""
    return derive_seed(study_seed, KFOLD_STREAM, folds, repeat, fold + 1)


@dataclass
class KFoldResult:
    pred_probs: np.ndarray  # (n, C) float32, out of fold
    fold: np.ndarray  # (n,) int16
    wall_time: np.ndarray  # (K,)
    diverged: np.ndarray  # (K,) bool
    attrs: dict[str, Any]

    @property
    def models(self) -> int:
        return len(self.wall_time)


def write_kfold(path: str | os.PathLike, result: KFoldResult) -> None:
    with create(path) as h5:
        create_dataset(h5, "pred_probs", result.pred_probs.astype(np.float32))
        create_dataset(h5, "fold", result.fold.astype(np.int16))
        create_dataset(h5, "wall_time", np.asarray(result.wall_time, dtype=np.float64))
        create_dataset(h5, "diverged", np.asarray(result.diverged, dtype=bool))
        write_attrs(h5, result.attrs)


def read_kfold(path: str | os.PathLike) -> KFoldResult:
    with open_file(path, StoreError, "K-fold file") as h5:
        arrays = {name: np.asarray(read(h5, name, path, StoreError))
                  for name in ("pred_probs", "fold", "wall_time", "diverged")}
        attrs = read_attrs(h5, StoreError)
    return KFoldResult(**arrays, attrs=attrs)


def mean_probs(results: Sequence[KFoldResult]) -> tuple[np.ndarray, int]:
    """Average out-of-fold probabilities of repeated K-fold runs, and the models they cost."""
    if not results:
        raise ValueError("no K-fold results to average")
    return (np.mean([r.pred_probs for r in results], axis=0).astype(np.float32),
            sum(r.models for r in results))
