"""Cost of the trials curve against the split-half reliability it repeats per prefix.

On a synthetic store of the default study's size (t = 1,024, n = 10,000, n_test = 2,000, 10
classes; :func:`estimate_scale.build_store`, with memorized examples and helper pairs), times
side by side in one process, the fastest of --repeat runs:

* ``reliability_s``: the split-half tables at the store's t (the memorized set and the pairs
  over the default grid of θ_infl, R = 10 splits): what rule `measure_selection_consistency`
  counts, without the pairs expected by chance;
* ``curve_s``: ``longtail trials-curve``'s table, the same at every prefix 128, 256, ... t;
* ``curve_over_reliability``: their ratio (the prefixes double, so about 2 is the floor).

    python benchmarks/trials_curve_speed.py [--t 1024 --n 10000 --n-test 2000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from estimate_scale import build_store

from longtail.config.defaults import DEFAULT_CONSISTENCY_THRESHOLDS
from longtail.estimators.reliability import SplitHalves
from longtail.estimators.trials_curve import read_curve_trials, trials_curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--t", type=int, default=1024)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--n-test", type=int, default=2_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    grid = list(DEFAULT_CONSISTENCY_THRESHOLDS)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.h5"
        build_store(path, args.t, args.n, args.n_test, args.classes, 0.7, 0)
        trials, ids, valid = read_curve_trials(path)
        best = {"reliability": np.inf, "curve": np.inf}
        for _ in range(args.repeat):
            began = time.perf_counter()
            halves = SplitHalves(trials, valid, 0, args.splits)
            halves.memorized_table([0.25])
            halves.pair_table(0.25, grid)
            best["reliability"] = min(best["reliability"], time.perf_counter() - began)
            began = time.perf_counter()
            curve = trials_curve(trials, ids, valid, 0.25, grid, 0, args.splits)
            best["curve"] = min(best["curve"], time.perf_counter() - began)
    print(json.dumps({
        "benchmark": "trials_curve_speed", "device": platform.processor() or platform.machine(),
        "t": args.t, "n": args.n, "n_test": args.n_test, "classes": args.classes,
        "splits": args.splits, "thresholds": len(grid),
        "prefixes": sorted(int(p) for p in curve["t"].unique()),
        "reliability_s": round(best["reliability"], 2), "curve_s": round(best["curve"], 2),
        "curve_over_reliability": round(best["curve"] / best["reliability"], 2)}))


if __name__ == "__main__":
    main()
