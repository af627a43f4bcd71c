"""A forecast of the trials a selection needs to replicate, from the trials curve.

The split-half Jaccard of a selection at fixed thresholds rises with t (:mod:`longtail.
estimators.trials_curve`). Each half's estimates have standard errors proportional to
1/sqrt(t), so once the chance selections of the many zero-effect candidates have died out, the
two halves disagree only on the examples (or pairs) whose true value lies within a band of
width ~1/sqrt(t) around the threshold, and

    1 - J(t) = a t^(-b),   b -> 1/2 for a smooth density of true values at the threshold.

While chance selections still die out the measured rise is steeper (b > 1/2), and that does
not go on; where true values bunch near the threshold it is shallower. So the forecast, from
the last prefix t of the measured curve (its mean Jaccard J over the R splits):

* **trials_needed**: 1 - J falling from its value at t at the slower of the two rises, the
  measured one (the slope of log(1 - J) against log t over the last :data:`FIT_POINTS`
  prefixes) and the asymptotic t^(-1/2), rounded up;
* **low, high**: the faster of the two rises from J + 1 sd, and the slower from J - 1 sd (sd:
  the Jaccard's spread over the R splits, a stand-in for the draw of the trials themselves,
  which the splits share);
* **reached**: the first prefix whose mean Jaccard reaches the target with at least
  ``min_pairs`` pairs per half (pairs only); nothing is extrapolated then;
* **cannot tell** (``trials_needed`` None) when fewer than :data:`FIT_POINTS` prefixes have a
  Jaccard in (0, 1), when the curve does not rise over them, when the pairs per half fall
  short of ``min_pairs`` and are not growing, or when the forecast lies beyond
  :data:`MAX_EXTRAPOLATION` times the trials measured.

docs/estimates.md states the method and its validation against a run of 4,096 trials.
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

FIT_POINTS = 3          # the last prefixes the power law is fitted on
ASYMPTOTIC_SLOPE = 0.5  # b of 1 - J = a t^-b when selection noise ~ 1/sqrt(t) dominates
MAX_EXTRAPOLATION = 32  # no forecast beyond this multiple of the trials measured
METHOD = ("1 - J = a t^-b from the last prefix of the trials curve, b the slower of the "
          f"measured rise (last {FIT_POINTS} prefixes) and the asymptotic 1/2; interval: the "
          "faster rise from J + 1 sd, the slower from J - 1 sd (sd over the R splits)")


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
    usable = [r for r in rows if not pd.isna(r["jaccard"]) and 0 < r["jaccard"] < 1]
    if len(usable) < FIT_POINTS:
        return result(False, None, None, None,
                      f"cannot tell: {len(usable)} prefixes with a Jaccard in (0, 1), "
                      f"{FIT_POINTS} needed")
    fit = usable[-FIT_POINTS:]
    x = np.log([r["t"] for r in fit])
    y = np.log([1 - r["jaccard"] for r in fit])
    slope, intercept = np.polyfit(x, y, 1)
    if not slope < 0:
        return result(False, None, None, None,
                      f"cannot tell: the Jaccard does not rise over t = "
                      f"{int(fit[0]['t'])}..{int(fit[-1]['t'])}")
    # The slower of the two rises: the measured one, or the asymptotic t^-1/2 (a faster
    # measured rise is chance selections dying out, which does not go on).
    b = min(-slope, ASYMPTOTIC_SLOPE)
    log_t, log_gap = math.log(t), math.log(1 - jaccard)
    log_needed = log_t + (log_gap - math.log(1 - target)) / b
    if log_needed > math.log(MAX_EXTRAPOLATION * t):
        return result(False, None, None, None,
                      f"cannot tell: the fit puts it beyond {MAX_EXTRAPOLATION} x the {t} "
                      f"trials measured")
    needed = math.exp(log_needed)
    # The interval: the faster rise from the Jaccard + 1 sd over the splits, the slower from
    # the Jaccard - 1 sd (the sd of one split: the trials themselves are one draw).
    sd = float(last["jaccard_std"]) if not pd.isna(last["jaccard_std"]) else 0.0
    fast = max(-slope, ASYMPTOTIC_SLOPE)
    low = _solve(log_t, math.log(1 - min(jaccard + sd, target - 1e-9)), -fast, target)
    high = _solve(log_t, math.log(1 - max(jaccard - sd, 1e-9)), -b, target)
    return result(False, max(math.ceil(needed), t + 1), max(math.ceil(low), t + 1),
                  max(math.ceil(high), math.ceil(needed)),
                  f"forecast: 1 - J falls as t^-{b:.2f} from {1 - jaccard:.3f} at t = {t} "
                  f"(measured slope {slope:.2f} on t = {int(fit[0]['t'])}.."
                  f"{int(fit[-1]['t'])})")


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
