"""The rounds of a study that trains until its findings replicate (:mod:`longtail.config.until`):
after each round, the verdict on its trials (the trials curve at the round's t)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from longtail.config.defaults import (
    DEFAULT_GRIDS,
    DEFAULT_MIN_PAIRS,
    DEFAULT_SPLITS,
    PAPER_THRESHOLDS,
)
from longtail.config.until import Until
from longtail.estimators.reliability import Trials
from longtail.estimators.trials_curve import curve_point
from longtail.store.correctness import StoreError, aggregate_shards
from longtail.store.io import write_json


def decide(trials: Trials, ids: np.ndarray, valid: np.ndarray, until: Until,
           round_index: int, thresholds: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Round ``round_index``'s verdict on the trials with ids below its t: whether the
    selection ``until`` names reaches its target (R-split mean Jaccard, ``thresholds.splits``
    splits seeded by ``seed``; pairs with ``thresholds.min_pairs`` a half), and whether to
    stop (reached, or t = max)."""
    t = until.trials_at(round_index)
    mem = _fixed(thresholds, "mem")
    infl = thresholds["infl"]
    grid = list(thresholds.get("grid", {}).get("infl", DEFAULT_GRIDS["infl"])) \
        if infl == "auto" else [float(infl)]
    least = float(thresholds.get("min_pairs", DEFAULT_MIN_PAIRS))
    table = curve_point(trials, ids, valid, t, mem, grid if until.set == "pairs" else [],
                        seed, int(thresholds.get("splits", DEFAULT_SPLITS)))
    rows = table[table["set"] == until.set].sort_values("infl").to_dict("records")
    minimum = least if until.set == "pairs" else 0

    def qualifies(row: Mapping[str, Any]) -> bool:
        return bool(row["jaccard"] >= until.target and min(row["size_a"], row["size_b"])
                    >= minimum)

    hit = next((row for row in rows if qualifies(row)), None)
    best = hit or max(rows, key=lambda row: -1 if np.isnan(row["jaccard"])
                      else row["jaccard"])
    reached = hit is not None
    what = (f"pairs at θ_infl {best['infl']:g} (θ_mem {mem:g})" if until.set == "pairs"
            else f"memorized set at θ_mem {mem:g}")
    jaccard = None if np.isnan(best["jaccard"]) else float(best["jaccard"])
    size = float(min(best["size_a"], best["size_b"]))
    measured = (f"{what}: split-half Jaccard "
                f"{'undefined' if jaccard is None else f'{jaccard:.3f}'} (mean of "
                f"{int(best['jaccard_splits'])} splits; {size:.1f} selected a half)")
    wanted = f"the target {until.target:g}" + (f" with {minimum:g} a half" if minimum else "")
    if reached:
        reason = f"reached at t = {t}: {measured}"
    elif t >= until.max:
        reason = f"max: t = {t} trained without reaching {wanted}; best: {measured}"
    else:
        reason = f"continue: at t = {t}, {measured}; {wanted} not reached"
    return {"round": round_index, "t": t, "set": until.set, "target": until.target,
            "step": until.step, "max": until.max, "mem": mem,
            "infl": None if until.set == "memorized" else float(best["infl"]),
            "jaccard": jaccard, "size_per_half": size, "reached": reached,
            "stop": reached or t >= until.max, "reason": reason}


def _fixed(thresholds: Mapping[str, Any], name: str) -> float:
    """A threshold of the config: its number, or the paper's value for ``auto``."""
    value = thresholds[name]
    return PAPER_THRESHOLDS[name] if value == "auto" else float(value)


def decide_round(shard_paths: Sequence[str | os.PathLike], train_labels: np.ndarray,
                 test_labels: np.ndarray, fingerprint: str, until: Until, round_index: int,
                 thresholds: Mapping[str, Any], seed: int, out_path: str | os.PathLike,
                 data_hash: str | None = None) -> dict[str, Any]:
    """:func:`decide` on the trials of a round's shards (aggregated in memory), written as
    JSON (atomically); refuses shards that do not hold trials 0..t-1 of the round."""
    results = aggregate_shards(shard_paths, fingerprint, data_hash)
    t = until.trials_at(round_index)
    if not np.array_equal(results.trial, np.arange(t)):
        raise StoreError(f"round {round_index} needs trials 0..{t - 1}; its shards hold "
                         f"{len(results.trial)} trials")
    valid = ~results.diverged
    trials = Trials(results.mask[valid], results.train_correct[valid],
                    results.test_correct[valid], train_labels, test_labels)
    verdict = decide(trials, np.asarray(results.trial), valid, until, round_index, thresholds,
                     seed)
    write_json(out_path, verdict)
    return verdict
