"""`longtail plan` against what the trials later show: forecasts from a store's first trials,
side by side with where the same store's own curve crosses the target.

For each θ_infl (and the memorized set with --memorized), the forecast of the t at which the
R-split mean Jaccard reaches --target is made from the trials with ids below --from (as a study
of that many trials would make it), and the measured crossing is read from the whole store's
curve on a finer grid of prefixes (every --step trials from --from on): the first prefix whose
mean Jaccard reaches the target with --min-pairs pairs a half, and the prefix before it. One
JSON line per selection:

* ``forecast``, ``low``, ``high``: `longtail plan`'s t and interval from the first --from trials
  (null: cannot tell), ``reason`` in words;
* ``crossed_at`` / ``crossed_after``: the measured crossing lies in (crossed_after, crossed_at]
  (null: the store's t does not reach the target); ``jaccard_at_t``: the mean at the store's t;
* ``error``: forecast / crossed_at - 1; ``inside``: whether the interval meets the bracket;
* ``seconds``: the curve and the forecasts, this machine.

    python benchmarks/plan_validation.py results/STUDY/correctness.h5 --from 1024 \\
        --infl 0.2 0.25 0.3 [--target 0.7] [--step 256]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from longtail.estimators.plan import forecast, store_study
from longtail.estimators.trials_curve import curve_of, prefixes, read_curve_trials, trials_curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store")
    parser.add_argument("--from", dest="first", type=int, default=1024)
    parser.add_argument("--infl", type=float, nargs="+", default=[0.2, 0.25, 0.3])
    parser.add_argument("--memorized", action="store_true")
    parser.add_argument("--mem", type=float, default=0.25)
    parser.add_argument("--target", type=float, default=0.7)
    parser.add_argument("--step", type=int, default=256)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--min-pairs", type=float, default=20)
    args = parser.parse_args()
    began = time.perf_counter()
    trials, ids, valid = read_curve_trials(args.store)
    seed = int(store_study(args.store).get("seed", 0))
    t = int(ids.max()) + 1
    points = sorted({*prefixes(args.first), *range(args.first, t + 1, args.step), t})
    curve = trials_curve(trials, ids, valid, args.mem, args.infl, seed, args.splits,
                         points=points)
    selections = [("pairs", value) for value in args.infl]
    selections += [("memorized", None)] if args.memorized else []
    for name, value in selections:
        rows = curve_of(curve, name, value)
        least = args.min_pairs if name == "pairs" else 0
        early = rows[rows["t"].isin(prefixes(args.first))]
        plan = forecast(early, args.target, name, args.mem, value, least)
        ok = (rows["jaccard"] >= args.target) & (np.minimum(rows["size_a"], rows["size_b"])
                                                 >= least)
        crossed = rows[ok]
        at = int(crossed["t"].iloc[0]) if len(crossed) else None
        earlier = rows["t"][rows["t"] < at] if at else rows["t"][:0]
        after = int(earlier.max()) if len(earlier) else (0 if at else None)
        inside = None if at is None or plan.trials_needed is None else bool(
            plan.low <= at and plan.high > after)
        print(json.dumps({
            "benchmark": "plan_validation", "device": platform.processor() or
            platform.machine(), "store_trials": t, "from": args.first, "target": args.target,
            "set": name, "mem": args.mem, "infl": value, "forecast": plan.trials_needed,
            "low": plan.low, "high": plan.high, "reached_by_from": plan.reached,
            "reason": plan.reason, "crossed_after": after, "crossed_at": at,
            "jaccard_at_t": round(float(rows["jaccard"].iloc[-1]), 4),
            "pairs_per_half_at_t": round(float(rows["size_a"].iloc[-1]), 1),
            "error": None if at is None or plan.trials_needed is None
            else round(plan.trials_needed / at - 1, 3), "inside": inside,
            "seconds": round(time.perf_counter() - began, 1)}), flush=True)


if __name__ == "__main__":
    main()
