"""Marginal utility of memorized examples (Section 3): retrain on the training set with examples
removed, and compare with removing the same number of examples at random.

Two experiments of the paper, each a set of *parts*; a part is a set of removal runs of equal
training-set size (so its models train together in batched groups):

* ``full``: kind ``full`` keeps every training example (the baseline all drops refer to).
* ``mem-<threshold>`` (Fig. 2, "removing examples with memorization value estimate above a
  given threshold and the same number of randomly chosen examples"): kind ``memorized``
  removes every example with mem~ >= threshold; kind ``random`` removes as many examples,
  drawn uniformly from the whole training set afresh for every repeat.
* ``pairs`` (Section 3, "Removing the 964 unique training examples in these pairs"): kind
  ``pairs`` removes the unique training examples of the high-influence pairs; kind ``random``
  the same number at random.
* ``random-<fraction>`` (Section 3, "comparable to the effect of removing 11,000 random
  examples"): kind ``random`` removes round(fraction * n) examples uniformly at random, drawn
  afresh for every repeat. With ``full`` (0 removed) and the pairs' ``random`` runs they give
  the accuracy after removing k random examples over a range of k, which
  :func:`equivalent_random_removal` inverts at the pairs' accuracy.

Each kind of a part is trained ``removal.repeats`` times (R; the paper used 100 on MNIST and
CIFAR-100, 5 on ImageNet). Repeat r of a kind derives its model seed (initial weights,
minibatch order and, for ``random``, the removed examples) from (study seed, a removal stream
id, part, kind, r) (:func:`longtail.config.study.removal_seed`), so removal runs never share a seed
with the subset trials of Algorithm 1 (seeded by (study seed, k)) and do not depend on how
repeats are split into jobs. A part named by its threshold value, not its position in the
list, keeps its runs when thresholds are added.

Shard file ``results/{study}/removal/{part}/{start}-{stop}.h5`` (repeats [start, stop) of every
kind of the part): docs/formats.md ("Removal shard"). Written and read through
:mod:`longtail.store.h5`; a shard without ``complete`` or with a changed byte is refused
(:class:`RemovalError` naming the file and the dataset).

This module plans the runs, reads and writes their shards and summarizes them (Fig. 2's curve,
the marginal utility); the statistics it applies (Welch's intervals, the number of random
removals that costs as much) live in :mod:`longtail.estimators.welch`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from longtail.config.study import parse_part, removal_seed
from longtail.estimators.welch import (  # the statistics; also importable from here (__all__)
    LEVEL,
    Difference,
    Equivalent,
    equivalent_random_removal,
    mean_std,
    satterthwaite_df,
    t_quantile,
    welch_difference,
)
from longtail.store.correctness import StoreError
from longtail.store.h5 import create, create_dataset, open_file, read, read_attrs, write_attrs

__all__ = [
    "CURVE_COLUMNS", "LEVEL", "PART_KINDS", "PER_RUN", "RANDOM_CURVE_COLUMNS", "Difference",
    "Equivalent", "RemovalError", "RemovalPlan", "RemovalResults", "equivalent_random_removal",
    "marginal_utility", "mean_std", "pairs_removed", "plan_part", "random_keep",
    "random_removal_curve", "read_removal", "removal_curve", "satterthwaite_df",
    "subset_accuracy", "t_quantile", "welch_difference", "write_removal"]

PART_KINDS = {"full": ("full",), "mem": ("memorized", "random"), "pairs": ("pairs", "random"),
              "random": ("random",)}
PER_RUN = ("kind", "repeat", "seed", "mask", "test_correct", "test_accuracy", "wall_time",
           "diverged")


class RemovalError(StoreError):
    """A removal run cannot be planned (more examples to remove than there are, none left), a
    removal shard is unreadable, incomplete or inconsistent with its siblings, or the shards
    lack the runs a summary needs. A ``ValueError`` too (through :class:`StoreError`)."""


# ---------------------------------------------------------------- which examples each run keeps

def random_keep(n: int, count: int, seed: int) -> np.ndarray:
    """(n,) bool keep-mask with ``count`` examples removed uniformly at random by ``seed``."""
    if not 0 <= count <= n:
        raise RemovalError(f"cannot remove {count} of {n} examples")
    keep = np.ones(n, dtype=bool)
    keep[np.random.default_rng(seed).choice(n, size=count, replace=False)] = False
    return keep


@dataclass(frozen=True)
class RemovalPlan:
    """The runs of one part for a range of repeats: their kinds, repeats, seeds and
    (runs, n) keep-masks (every mask keeps the same number of examples)."""

    part: str
    threshold: float
    removed: np.ndarray  # (n,) bool, the examples the targeted kind removes
    kind: np.ndarray     # (runs,) str
    repeat: np.ndarray   # (runs,) int64
    seed: np.ndarray     # (runs,) int64
    keep: np.ndarray     # (runs, n) bool


def plan_part(part: str, study_seed: int, n: int, repeats: Sequence[int],
              removed: np.ndarray | None = None) -> RemovalPlan:
    """Runs of ``part`` for ``repeats``, repeat-major (both kinds of a repeat side by side).

    ``removed`` (n,) bool is what the targeted kind removes: mem >= threshold for ``mem-*``
    (see :func:`longtail.estimators.select.is_memorized`), the pairs' unique training examples for
    ``pairs``; ignored for ``full`` (nothing removed) and ``random-*`` (round(fraction * n) at
    random, no targeted kind).
    """
    family, value = parse_part(part)
    untargeted = family in ("full", "random")
    targeted = np.zeros(n, dtype=bool) if untargeted else np.asarray(removed, dtype=bool)
    if targeted.shape != (n,):
        raise RemovalError(f"part {part}: removed has shape {targeted.shape}, expected ({n},)")
    count = int(round(value * n)) if family == "random" else int(targeted.sum())
    if count >= n:
        raise RemovalError(f"part {part} removes all {n} training examples; nothing is left to "
                         f"train on (raise the threshold)")
    kinds, reps, seeds, keeps = [], [], [], []
    for repeat in repeats:
        for kind in PART_KINDS[family]:
            seed = removal_seed(study_seed, part, kind, repeat)
            keeps.append(random_keep(n, count, seed) if kind == "random" else ~targeted)
            kinds.append(kind)
            reps.append(repeat)
            seeds.append(seed)
    threshold = value if family == "mem" else math.nan
    return RemovalPlan(part=part, threshold=threshold, removed=targeted,
                       kind=np.array(kinds, dtype=str), repeat=np.array(reps, dtype=np.int64),
                       seed=np.array(seeds, dtype=np.int64),
                       keep=np.array(keeps, dtype=bool).reshape(len(kinds), n))


def pairs_removed(train_index: np.ndarray, n: int) -> np.ndarray:
    """(n,) bool: the unique training examples of the high-influence pairs."""
    removed = np.zeros(n, dtype=bool)
    removed[np.asarray(train_index, dtype=np.int64)] = True
    return removed


# ---------------------------------------------------------------- the shard files

def write_removal(path: str | os.PathLike, plan: RemovalPlan, test_correct: np.ndarray,
                  wall_time: np.ndarray, diverged: np.ndarray, attrs: Mapping[str, Any]) -> None:
    """Write one removal shard (schema above) atomically."""
    test_correct = np.asarray(test_correct, dtype=bool)
    with create(path) as h5:
        create_dataset(h5, "kind", np.array(plan.kind, dtype="S"))
        create_dataset(h5, "repeat", plan.repeat)
        create_dataset(h5, "seed", plan.seed)
        for name, data in (("mask", plan.keep), ("test_correct", test_correct)):
            create_dataset(h5, name, data, compression="gzip", shuffle=True,
                           chunks=(max(1, min(len(data), 64)), max(1, data.shape[1])))
        create_dataset(h5, "test_accuracy", test_correct.mean(axis=1, dtype=np.float64))
        create_dataset(h5, "wall_time", np.asarray(wall_time, dtype=np.float64))
        create_dataset(h5, "diverged", np.asarray(diverged, dtype=bool))
        write_attrs(h5, attrs)


@dataclass
class RemovalResults:
    """Removal runs of one study, from any number of shards and parts."""

    part: np.ndarray           # (r,) str
    threshold: np.ndarray      # (r,) float64, NaN unless a mem-* part
    kind: np.ndarray           # (r,) str
    repeat: np.ndarray         # (r,) int64
    seed: np.ndarray           # (r,) int64
    mask: np.ndarray           # (r, n) bool
    test_correct: np.ndarray   # (r, n_test) bool
    test_accuracy: np.ndarray  # (r,) float64
    diverged: np.ndarray       # (r,) bool

    def runs(self, part: str, kind: str) -> np.ndarray:
        """(r,) bool: the valid (non-diverged) runs of ``kind`` in ``part``."""
        return (self.part == part) & (self.kind == kind) & ~self.diverged


def read_removal(paths: Sequence[str | os.PathLike]) -> RemovalResults:
    """Read and concatenate removal shards; refuse incomplete files, mixed studies (n, n_test,
    fingerprint) and runs that occur twice."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in
                                          ("part", "threshold", *PER_RUN)}
    first: dict[str, Any] | None = None
    for path in paths:
        with open_file(path, RemovalError, "removal shard") as h5:
            attrs = read_attrs(h5, RemovalError)
            missing = [name for name in PER_RUN if name not in h5]
            if missing:
                raise RemovalError(f"{path}: missing datasets {missing}")
            data = {name: read(h5, name, path, RemovalError) for name in PER_RUN}
        key = {name: attrs.get(name) for name in ("n", "n_test", "fingerprint")}
        first = first or key
        if key != first:
            raise RemovalError(f"{path}: belongs to another study ({key}, expected {first})")
        runs = len(data["kind"])
        if data["mask"].shape != (runs, key["n"]) or \
                data["test_correct"].shape != (runs, key["n_test"]):
            raise RemovalError(f"{path}: mask {data['mask'].shape} / test_correct "
                               f"{data['test_correct'].shape} do not match {runs} runs of "
                               f"n={key['n']}, n_test={key['n_test']}")
        data["kind"] = data["kind"].astype(str)
        parts["part"].append(np.full(runs, attrs["part"], dtype=object))
        parts["threshold"].append(np.full(runs, float(attrs["threshold"])))
        for name in PER_RUN:
            parts[name].append(data[name])
    if first is None:
        raise RemovalError("no removal shards to read")
    merged = {name: np.concatenate(values) for name, values in parts.items()}
    merged["part"] = merged["part"].astype(str)
    ids = list(zip(merged["part"], merged["kind"], merged["repeat"].tolist(), strict=True))
    if len(set(ids)) != len(ids):
        raise RemovalError("removal runs occur twice (the same part, kind and repeat in two "
                           "shards)")
    merged.pop("wall_time")
    return RemovalResults(**merged)


# ---------------------------------------------------------------- summaries

CURVE_COLUMNS = ("threshold", "kind", "models", "removed", "fraction_remaining",
                 "accuracy_mean", "accuracy_std", "accuracy_se", "difference_mean",
                 "difference_se", "difference_df", "difference_low", "difference_high")


def removal_curve(results: RemovalResults, level: float = LEVEL) -> pd.DataFrame:
    """Fig. 2's numbers: per threshold and kind (memorized, random) the number of valid models,
    examples removed, fraction of the training set remaining and test accuracy (mean, std and
    standard error over the models), sorted by threshold; a ``full`` row (threshold NaN) when
    the baseline ran. The ``difference_*`` columns of a ``memorized`` row hold memorized minus
    random accuracy at its threshold with Welch's ``level`` interval (:func:`welch_difference`);
    they are NaN on the other rows."""
    rows = []
    n = results.mask.shape[1]
    labels = sorted({(float(t), str(p)) for t, p in zip(results.threshold, results.part,
                                                         strict=True) if p.startswith("mem-")})
    for threshold, part in [(math.nan, "full"), *labels]:
        for kind in PART_KINDS["full" if part == "full" else "mem"]:
            use = results.runs(part, kind)
            if not use.any():
                continue
            kept = results.mask[use].sum(axis=1)
            mean, std = mean_std(results.test_accuracy[use])
            rows.append({"threshold": threshold, "kind": kind, "models": int(use.sum()),
                         "removed": int(n - kept[0]), "fraction_remaining": float(kept[0] / n),
                         "accuracy_mean": mean, "accuracy_std": std,
                         "accuracy_se": std / math.sqrt(use.sum())})
    curve = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    curve = curve.astype({name: float for name in CURVE_COLUMNS[5:]})
    memorized = curve.index[curve["kind"] == "memorized"]
    random = curve[curve["kind"] == "random"].set_index("threshold")
    paired = [row for row in memorized if curve.at[row, "threshold"] in random.index]
    if paired:
        a = curve.loc[paired]
        b = random.loc[a["threshold"]]
        diff = welch_difference(a["accuracy_mean"], a["accuracy_std"], a["models"],
                                b["accuracy_mean"], b["accuracy_std"], b["models"], level)
        for name in ("mean", "se", "df", "low", "high"):
            curve.loc[paired, f"difference_{name}"] = getattr(diff, name)
    return curve


RANDOM_CURVE_COLUMNS = ("removed", "models", "accuracy_mean", "accuracy_std", "accuracy_se")


def random_removal_curve(results: RemovalResults) -> pd.DataFrame:
    """Test accuracy after removing k training examples uniformly at random, for every k run:
    the ``full`` runs (k = 0), the ``random`` runs of part ``pairs`` (k = the pairs' training
    examples) and of the ``random-*`` parts; mean, std and standard error over the valid runs of
    each k, sorted by k."""
    n = results.mask.shape[1]
    use = results.runs("full", "full") | (
        (results.kind == "random") & ~results.diverged
        & ((results.part == "pairs") | np.char.startswith(results.part, "random-")))
    removed = n - results.mask[use].sum(axis=1)
    accuracy = results.test_accuracy[use]
    rows = []
    for count in np.unique(removed):
        mean, std = mean_std(accuracy[removed == count])
        runs = int(np.sum(removed == count))
        rows.append({"removed": int(count), "models": runs, "accuracy_mean": mean,
                     "accuracy_std": std, "accuracy_se": std / math.sqrt(runs)})
    return pd.DataFrame(rows, columns=list(RANDOM_CURVE_COLUMNS))


def subset_accuracy(results: RemovalResults, use: np.ndarray, test_index: np.ndarray
                    ) -> np.ndarray:
    """Per-run accuracy (runs marked in ``use``) on the test examples ``test_index``; NaN for
    an empty ``test_index``."""
    test_index = np.asarray(test_index, dtype=np.int64)
    if not len(test_index):
        return np.full(int(np.sum(use)), math.nan)
    return results.test_correct[use][:, test_index].mean(axis=1, dtype=np.float64)


def marginal_utility(results: RemovalResults, pairs_test_index: np.ndarray,
                     level: float = LEVEL) -> dict[str, Any]:
    """Section 3's comparison: the test-accuracy drop from removing the pairs' unique training
    examples vs the same number at random, and the accuracy on the pairs' test examples before
    (full training set) and after the removal.

    A drop is the mean accuracy of the ``full`` runs minus each removal run's accuracy; mean
    and std are over the R removal runs. Accuracies are fractions. ``equivalent_random*``: the
    number of random removals that costs as much (:func:`equivalent_random_removal` on
    :func:`random_removal_curve`), with its ``level`` interval.
    """
    full = results.runs("full", "full")
    if not full.any():
        raise RemovalError("marginal utility needs the full-training-set runs (part 'full')")
    baseline = results.test_accuracy[full].mean()
    out: dict[str, Any] = {"models_full": int(full.sum())}
    out["accuracy_full_mean"], out["accuracy_full_std"] = mean_std(results.test_accuracy[full])
    out["pairs_test_examples"] = int(len(np.unique(pairs_test_index)))
    before = subset_accuracy(results, full, np.unique(pairs_test_index))
    out["pairs_accuracy_before_mean"], out["pairs_accuracy_before_std"] = mean_std(before)
    for kind in ("pairs", "random"):
        use = results.runs("pairs", kind)
        if not use.any():
            raise RemovalError(f"marginal utility needs the '{kind}' runs of part 'pairs'")
        out[f"removed_{kind}"] = int(results.mask.shape[1] - results.mask[use][0].sum())
        out[f"models_{kind}"] = int(use.sum())
        out[f"drop_{kind}_mean"], out[f"drop_{kind}_std"] = \
            mean_std(baseline - results.test_accuracy[use])
        after = subset_accuracy(results, use, np.unique(pairs_test_index))
        out[f"pairs_accuracy_after_{kind}_mean"], out[f"pairs_accuracy_after_{kind}_std"] = \
            mean_std(after)
    curve = random_removal_curve(results)
    pairs = results.test_accuracy[results.runs("pairs", "pairs")]
    equivalent = Equivalent(math.nan, math.nan, math.nan, False, int(curve["removed"].max()))
    if len(curve) > 1:  # no pairs and no random-* parts leave only k = 0
        equivalent = equivalent_random_removal(
            curve["removed"], curve["accuracy_mean"], curve["accuracy_std"], curve["models"],
            *mean_std(pairs), len(pairs), level)
    out.update({"equivalent_random": equivalent.count, "equivalent_random_low": equivalent.low,
                "equivalent_random_high": equivalent.high,
                "equivalent_random_beyond": equivalent.beyond,
                "random_removed_max": equivalent.largest,
                "random_sizes": int(len(curve)) - 1})
    return out
