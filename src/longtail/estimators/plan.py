"""A forecast of the trials a selection needs to replicate, from the trials curve.

The split-half Jaccard of a selection at fixed thresholds rises with t (:mod:`longtail.
estimators.trials_curve`). Each half's estimates have standard errors proportional to
1/sqrt(t), so once the chance selections of the many zero-effect candidates have died out, the
two halves disagree only on the examples (or pairs) whose true value lies within a band of
width ~1/sqrt(t) around the threshold, and

    1 - J(t) = a t^(-b),   b = 1/2 for a smooth density of true values at the threshold.

The forecast lets 1 - J fall from the last prefix t of the measured curve (mean Jaccard J over
the R splits) as t^(-1/2):

* **trials_needed** = t ((1 - J) / (1 - target))^2, rounded up;
* **low, high**: the same from J + 1 sd at t^(-0.6) and from J - 1 sd at t^(-0.4)
  (:data:`SLOPE_RANGE`: the slopes real curves show past their chance regime; sd: the
  Jaccard's spread over the R splits, which stands in for the draw of the trials the splits
  share);
* **reached**: the first prefix whose mean Jaccard reaches the target with at least
  ``min_pairs`` pairs per half (pairs only); nothing is extrapolated then;
* **cannot tell** (``trials_needed`` None) when the Jaccard at t is undefined or 0, when it
  does not rise from the prefix before, when the pairs per half fall short of ``min_pairs``
  and are not growing, or when the forecast lies beyond :data:`MAX_EXTRAPOLATION` times t.

While chance selections still die out (the pairs per half falling fast) the curve rises faster
than t^(-1/2) and the forecast errs long; the reason says so. docs/estimates.md states the
method and its validation against runs of 4,000 and 4,096 trials.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from longtail.config.defaults import (
    DEFAULT_INFL_THRESHOLD,
    DEFAULT_MEM_THRESHOLD,
    DEFAULT_MIN_PAIRS,
    DEFAULT_SPLITS,
    DEFAULT_TARGET,
)
from longtail.estimators.trials_curve import curve_of, read_curve_trials, trials_curve
from longtail.store.correctness import StoreError, StoreReader

ASYMPTOTIC_SLOPE = 0.5  # b of 1 - J = a t^-b when selection noise ~ 1/sqrt(t) dominates
SLOPE_RANGE = (0.4, 0.6)  # the b measured on real curves past their chance regime
MAX_EXTRAPOLATION = 32  # no forecast beyond this multiple of the trials measured
METHOD = ("1 - J falls as t^-1/2 from the last prefix of the trials curve; interval: "
          f"t^-{SLOPE_RANGE[1]:g} from J + 1 sd to t^-{SLOPE_RANGE[0]:g} from J - 1 sd (sd: the "
          "spread over the R half-splits)")


@dataclass(frozen=True)
class Forecast:
    """How many trials a selection needs for its R-split mean Jaccard to reach ``target``."""

    target: float
    set: str
    mem: float
    infl: float | None
    t: int                      # trials measured
    reached: bool
    trials_needed: int | None   # None: cannot tell
    low: int | None
    high: int | None
    minutes_more: float | None
    method: str
    reason: str                 # in words: reached where, or why it cannot tell, or the fit
    jaccard: float | None       # mean Jaccard at the last prefix
    size_per_half: float | None  # mean selected per half at the last prefix

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _solve(log_t: float, log_gap: float, slope: float, target: float) -> float:
    """t at which log(1 - J) falls from ``log_gap`` at ``log_t`` to log(1 - target) along
    ``slope`` (d log(1 - J) / d log t < 0); capped at e^50."""
    return math.exp(min(log_t + (math.log(1 - target) - log_gap) / slope, 50.0))


def forecast(curve: pd.DataFrame, target: float, set_name: str, mem: float,
             infl: float | None = None, min_pairs: float = 0) -> Forecast:
    """The forecast of :mod:`longtail.estimators.plan` from one selection's curve: the rows of
    :func:`longtail.estimators.trials_curve.curve_of` (``t``, ``jaccard``, ``jaccard_std``,
    ``jaccard_splits``, ``size_a``, ``size_b``), by prefix."""
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    if curve.empty:
        raise ValueError("the trials curve has no rows for this selection")
    least = min_pairs if set_name == "pairs" else 0
    rows = curve.sort_values("t").to_dict("records")
    t = int(rows[-1]["t"])
    size = lambda row: min(row["size_a"], row["size_b"])  # noqa: E731
    last = rows[-1]
    jaccard = None if pd.isna(last["jaccard"]) else float(last["jaccard"])

    def result(reached: bool, needed: int | None, low: int | None, high: int | None,
               reason: str) -> Forecast:
        return Forecast(target=float(target), set=set_name, mem=float(mem),
                        infl=None if infl is None else float(infl), t=t, reached=reached,
                        trials_needed=needed, low=low, high=high, minutes_more=None,
                        method=METHOD, reason=reason, jaccard=jaccard,
                        size_per_half=float(size(last)))

    for k, row in enumerate(rows):
        if not pd.isna(row["jaccard"]) and row["jaccard"] >= target and size(row) >= least:
            before = int(rows[k - 1]["t"]) + 1 if k else 1
            return result(True, int(row["t"]), before, int(row["t"]),
                          f"reached at t = {int(row['t'])}")
    if least and size(last) < least and (len(rows) < 2 or size(last) <= size(rows[-2])):
        return result(False, None, None, None,
                      f"cannot tell: {size(last):.1f} pairs per half at t = {t}, fewer than "
                      f"{least:g}, and not growing with t")
    if jaccard is None or not 0 < jaccard < 1 or len(rows) < 2:
        return result(False, None, None, None,
                      f"cannot tell: the Jaccard at t = {t} is "
                      f"{'undefined' if jaccard is None else f'{jaccard:.3f}'}"
                      f"{'' if len(rows) >= 2 else ', and no smaller prefix to compare'}")
    before = rows[-2]
    if pd.isna(before["jaccard"]) or not jaccard > before["jaccard"]:
        return result(False, None, None, None,
                      f"cannot tell: the Jaccard does not rise from t = {int(before['t'])} "
                      f"to {t}")
    log_t, gap = math.log(t), 1 - jaccard
    needed = math.exp(log_t + math.log(gap / (1 - target)) / ASYMPTOTIC_SLOPE)
    if needed > MAX_EXTRAPOLATION * t:
        return result(False, None, None, None,
                      f"cannot tell: it lies beyond {MAX_EXTRAPOLATION} x the {t} trials "
                      f"measured")
    # The interval: the faster rise from the Jaccard + 1 sd over the splits, the slower from
    # the Jaccard - 1 sd (the sd of one split stands in for the draw of the trials).
    sd = 0.0 if pd.isna(last["jaccard_std"]) else float(last["jaccard_std"])
    slow, fast = SLOPE_RANGE
    low = _solve(log_t, math.log(max(gap - sd, 1 - target + 1e-9)), -fast, target)
    high = _solve(log_t, math.log(min(gap + sd, 1.0)), -slow, target)
    measured = math.log(gap / (1 - before["jaccard"])) / math.log(t / before["t"])
    chance = ("; the pairs per half still fall fast (chance selections dying out), so "
              "likely fewer" if size(last) < 0.5 * size(before) else "")
    return result(False, max(math.ceil(needed), t + 1), max(math.ceil(low), t + 1),
                  max(math.ceil(high), math.ceil(needed)),
                  f"forecast: 1 - J = {gap:.3f} at t = {t} falling as t^-1/2 (measured "
                  f"from t = {int(before['t'])}: t^{measured:.2f}){chance}")


def with_minutes(plan: Forecast, seconds_per_trial: float | None, jobs: int) -> Forecast:
    """``plan`` with the minutes its missing trials take at ``seconds_per_trial`` (one job's
    wall time per trial, as the shards recorded it) on ``jobs`` parallel jobs."""
    if plan.trials_needed is None or seconds_per_trial is None or \
            not math.isfinite(seconds_per_trial):
        return plan
    more = max(plan.trials_needed - plan.t, 0) * seconds_per_trial / max(jobs, 1) / 60
    return Forecast(**{**asdict(plan), "minutes_more": round(more, 1)})


def plan_line(plan: Forecast | Mapping[str, Any]) -> str:
    """The forecast in one sentence."""
    p = plan if isinstance(plan, Mapping) else plan.to_dict()
    what = (f"the pairs at θ_infl {p['infl']:g} (θ_mem {p['mem']:g})" if p["set"] == "pairs"
            else f"the memorized set at θ_mem {p['mem']:g}")
    if p["reached"]:
        return (f"{what} reach split-half Jaccard {p['target']:g} at t = "
                f"{p['trials_needed']:,} (measured).")
    if p["trials_needed"] is None:
        return f"{what}: {p['reason']} (measured up to t = {p['t']:,})."
    minutes = "" if p["minutes_more"] is None else \
        f", about {p['minutes_more']:,.0f} more minutes on the machine that trained them"
    return (f"{what} need about t = {p['trials_needed']:,} trials "
            f"[{p['low']:,}, {p['high']:,}] to reach split-half Jaccard {p['target']:g} "
            f"(Jaccard {p['jaccard']:.2f} at t = {p['t']:,}){minutes}.")


def store_study(store_path: str | os.PathLike) -> dict[str, Any]:
    """The study a store records (``study_config``; empty for a store written from arrays)."""
    with StoreReader(store_path) as store:
        recorded = store.attrs.get("study_config", {})
    return json.loads(recorded) if isinstance(recorded, str) else dict(recorded)


def seconds_per_trial(store_path: str | os.PathLike) -> float | None:
    """One job's mean wall time per valid trial, as the shards recorded it (None: not
    recorded, as in a store written from arrays)."""
    with StoreReader(store_path) as store:
        times = store.array("wall_time")[~store.array("diverged")]
    times = times[np.isfinite(times)]
    return float(times.mean()) if len(times) else None


def resolve_store(path: str | os.PathLike) -> Path:
    """A correctness store, or a study's results folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "correctness.h5"
    if not path.exists():
        raise StoreError(f"{path}: no such correctness store (give a correctness.h5 or a "
                         f"study's results folder)")
    return path


def machine_jobs(study: Mapping[str, Any]) -> int:
    """Parallel training jobs on this machine: its cores over the study's threads per job."""
    threads = int(study.get("train", {}).get("threads", 1) or 1)
    return max((os.cpu_count() or 1) // threads, 1)


def curve_forecasts(store_path: str | os.PathLike, curve: pd.DataFrame, mem: float,
                    infl: Sequence[float], target: float = DEFAULT_TARGET,
                    min_pairs: float = DEFAULT_MIN_PAIRS) -> list[dict[str, Any]]:
    """The forecasts (as dicts) of the memorized set at ``mem`` and of the pairs at each
    ``infl`` from a store's measured trials ``curve``, with the minutes on this machine."""
    seconds, jobs = seconds_per_trial(store_path), machine_jobs(store_study(store_path))
    plans = [forecast(curve_of(curve, "pairs", value), target, "pairs", mem, value, min_pairs)
             for value in infl]
    plans.append(forecast(curve_of(curve, "memorized"), target, "memorized", mem))
    return [with_minutes(plan, seconds, jobs).to_dict() for plan in plans]


def plan_store(path: str | os.PathLike, set_name: str = "pairs",
               mem: float = DEFAULT_MEM_THRESHOLD, infl: float = DEFAULT_INFL_THRESHOLD,
               target: float = DEFAULT_TARGET, seed: int | None = None,
               splits: int = DEFAULT_SPLITS, min_pairs: float = DEFAULT_MIN_PAIRS,
               jobs: int | None = None) -> Forecast:
    """:func:`forecast` of a store's selection (pairs at ``mem``/``infl``, or the memorized
    set at ``mem``) from its trials curve, with the minutes the missing trials take at the
    recorded time per trial on ``jobs`` parallel jobs (default: this machine's cores over
    the study's threads per job). The split seed is the study's seed, as its reliability."""
    store_path = resolve_store(path)
    study = store_study(store_path)
    seed = int(study.get("seed", 0)) if seed is None else seed
    trials, ids, valid = read_curve_trials(store_path)
    curve = trials_curve(trials, ids, valid, mem, [infl] if set_name == "pairs" else [],
                         seed, splits)
    plan = forecast(curve_of(curve, set_name, infl), target, set_name, mem,
                    infl if set_name == "pairs" else None, min_pairs)
    return with_minutes(plan, seconds_per_trial(store_path),
                        machine_jobs(study) if jobs is None else jobs)
