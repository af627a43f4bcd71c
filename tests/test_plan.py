"""`longtail plan`'s forecast (longtail.plan): exact on an exact power law, "reached" where the
curve gets there, "cannot tell" where it cannot, and the crossing of a planted store's own
longer run inside the interval forecast from its first trials."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from fabricate import planted_trials
from longtail.cli import main
from longtail.plan import forecast, plan_store
from longtail.reliability import Trials
from longtail.store import store_from_arrays, write_store
from longtail.trials_curve import curve_of, trials_curve


def curve(ts, jaccards, sizes=100.0, std=0.0, splits=10) -> pd.DataFrame:
    sizes = np.broadcast_to(sizes, len(ts))
    return pd.DataFrame({"t": ts, "jaccard": jaccards, "jaccard_std": std,
                         "jaccard_splits": splits, "size_a": sizes, "size_b": sizes})


def test_an_exact_power_law_is_solved_exactly():
    ts = np.array([128, 256, 512, 1024])
    a = 12.0  # 1 - J = a t^-1/2: J = 0.7 at t = (a / 0.3)^2 = 1600
    plan = forecast(curve(ts, 1 - a / np.sqrt(ts)), 0.7, "pairs", 0.25, 0.2, 20)
    assert not plan.reached
    assert plan.trials_needed == 1600
    assert plan.low <= 1600 <= plan.high
    assert plan.t == 1024 and plan.set == "pairs" and plan.infl == 0.2


def test_a_steeper_curve_is_forecast_by_its_own_slope_within_the_interval():
    ts = np.array([128, 256, 512, 1024])  # at 128, 1 - J > 1: left out of the fit
    plan = forecast(curve(ts, 1 - 80 / ts ** 0.8), 0.7, "memorized", 0.25)
    needed = (80 / 0.3) ** (1 / 0.8)
    assert plan.trials_needed == math.ceil(needed) > 1024
    # the asymptotic slope 1/2 from the last prefix is the interval's slow end
    assert plan.high == math.ceil(1024 * ((80 / 1024 ** 0.8) / 0.3) ** 2)
    assert plan.low == plan.trials_needed


def test_reached_is_the_first_prefix_that_reaches_with_enough_pairs():
    ts = [128, 256, 512, 1024]
    plan = forecast(curve(ts, [0.5, 0.72, 0.8, 0.9], sizes=[50, 15, 25, 30]), 0.7, "pairs",
                    0.25, 0.2, 20)
    assert plan.reached and plan.trials_needed == 512 and plan.reason == "reached at t = 512"
    assert (plan.low, plan.high) == (257, 512)


@pytest.mark.parametrize(("jaccards", "sizes", "why"), [
    ([0.5, 0.6], 100.0, "2 prefixes with a Jaccard in (0, 1), 3 needed"),
    ([0.5, 0.45, 0.4], 100.0, "does not rise"),
    ([0.3, 0.4, 0.5], [30, 12, 8], "fewer than 20, and not growing"),
    ([0.01, 0.011, 0.012], 100.0, "beyond 32 x"),
])
def test_cannot_tell_when_the_curve_does_not_support_it(jaccards, sizes, why):
    ts = [128, 256, 512][-len(jaccards):]
    plan = forecast(curve(ts, jaccards, sizes=sizes), 0.7, "pairs", 0.25, 0.2, 20)
    assert plan.trials_needed is None and plan.low is None and not plan.reached
    assert why in plan.reason


def test_the_interval_from_1024_trials_holds_the_crossing_of_the_longer_run():
    """A planted store of 8,192 trials: the forecast from its first 1,024 against where its
    own curve crosses the target (the crossing is bracketed by two measured prefixes)."""
    t = 8192
    planted = planted_trials(t, n=300, n_test=150, memorized=90, pairs=140, infl=(0.05, 0.6),
                             seed=2)
    trials = Trials(planted.mask, planted.train_correct, planted.test_correct,
                    planted.train_labels, planted.test_labels)
    full = trials_curve(trials, np.arange(t), np.ones(t, bool), 0.25, [0.2], seed=0, splits=8)
    pairs = curve_of(full, "pairs", 0.2)
    crossed = pairs[pairs["jaccard"] >= 0.9]
    assert len(crossed), "the planted run must cross the target to test against"
    first = int(crossed["t"].iloc[0])
    before = int(pairs["t"][pairs["t"] < first].max())
    plan = forecast(pairs[pairs["t"] <= 1024], 0.9, "pairs", 0.25, 0.2, 5)
    assert first > 1024, "the crossing must lie beyond the trials forecast from"
    assert plan.trials_needed is not None
    assert plan.low <= first and plan.high >= before  # the intervals overlap


def write_planted(path, t=512, **kw) -> None:
    planted = planted_trials(t, **kw)
    write_store(path, store_from_arrays(planted.mask, planted.train_correct,
                                        planted.test_correct, planted.train_labels,
                                        planted.test_labels))


def test_plan_json_on_a_bare_store_written_from_arrays(tmp_path, capsys):
    store = tmp_path / "mine.h5"
    write_planted(store, n=200, n_test=90, memorized=60, pairs=80, seed=4)
    assert main(["plan", str(store), "--infl", "0.2", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert set(plan) >= {"target", "set", "mem", "infl", "t", "reached", "trials_needed", "low",
                         "high", "minutes_more", "method"}
    assert plan["set"] == "pairs" and plan["infl"] == 0.2 and plan["t"] == 512
    assert plan["minutes_more"] is None  # a store from arrays records no timings
    assert plan == plan_store(store, "pairs", infl=0.2).to_dict()
    assert main(["plan", str(store), "--memorized", "--target", "0.5", "--json"]) == 0
    memorized = json.loads(capsys.readouterr().out)
    assert memorized["set"] == "memorized" and memorized["infl"] is None
    assert memorized["reached"] and memorized["trials_needed"] == 64


def test_plan_reads_a_study_folder_and_names_a_missing_store(tmp_path, capsys):
    folder = tmp_path / "results" / "mine"
    folder.mkdir(parents=True)
    write_planted(folder / "correctness.h5", t=256, seed=5)
    assert main(["plan", str(folder)]) == 0
    assert "θ_infl 0.15" in capsys.readouterr().out
    assert main(["plan", str(tmp_path / "nowhere")]) == 1
    assert "nowhere/correctness.h5: no such correctness store" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["plan", str(folder), "--memorized", "--infl", "0.2"])
    assert exit_.value.code == 2
