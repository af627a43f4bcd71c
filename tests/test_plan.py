"""`longtail plan`'s forecast (longtail.estimators.plan): exact on an exact power law,
"reached" where the curve gets there, "cannot tell" where it cannot, and the crossing of a
planted store's own longer run inside the interval forecast from its first trials."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from fabricate import planted_trials

from longtail.cli import main
from longtail.estimators.plan import forecast, plan_store
from longtail.estimators.reliability import Trials
from longtail.estimators.trials_curve import curve_of, trials_curve
from longtail.store.correctness import store_from_arrays, write_store


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


@pytest.mark.parametrize("rise", [0.8, 0.3])
def test_the_forecast_is_the_t_half_law_from_the_last_prefix_whatever_the_rise_before(rise):
    ts = np.array([128, 256, 512, 1024])
    a = 0.5 * 1024 ** rise  # 1 - J = 0.5 at t = 1024, rising as t^-rise before it
    plan = forecast(curve(ts, 1 - a / ts ** rise, std=0.02), 0.7, "pairs", 0.25, 0.2, 20)
    assert plan.trials_needed == math.ceil(1024 * (0.5 / 0.3) ** 2)
    assert plan.low == math.ceil(1024 * (0.48 / 0.3) ** (1 / 0.6))   # J + 1 sd, t^-0.6
    assert plan.high == math.ceil(1024 * (0.52 / 0.3) ** (1 / 0.4))  # J - 1 sd, t^-0.4
    assert f"t^-{rise:.2f}" in plan.reason


def test_reached_is_the_first_prefix_that_reaches_with_enough_pairs():
    ts = [128, 256, 512, 1024]
    plan = forecast(curve(ts, [0.5, 0.72, 0.8, 0.9], sizes=[50, 15, 25, 30]), 0.7, "pairs",
                    0.25, 0.2, 20)
    assert plan.reached and plan.trials_needed == 512 and plan.reason == "reached at t = 512"
    assert (plan.low, plan.high) == (257, 512)


@pytest.mark.parametrize(("jaccards", "sizes", "target", "why"), [
    ([0.6], 100.0, 0.7, "no smaller prefix to compare"),
    ([0.3, 0.0], 100.0, 0.7, "the Jaccard at t = 256 is 0.000"),
    ([0.5, 0.45, 0.4], 100.0, 0.7, "does not rise from t = 256 to 512"),
    ([0.3, 0.4, 0.5], [30, 12, 8], 0.7, "fewer than 20, and not growing"),
    ([0.01, 0.011, 0.012], 100.0, 0.95, "beyond 32 x"),
])
def test_cannot_tell_when_the_curve_does_not_support_it(jaccards, sizes, target, why):
    ts = [128, 256, 512][:len(jaccards)]
    plan = forecast(curve(ts, jaccards, sizes=sizes), target, "pairs", 0.25, 0.2, 20)
    assert plan.trials_needed is None and plan.low is None and not plan.reached
    assert why in plan.reason


def test_the_forecast_from_1024_trials_lands_where_the_longer_run_crosses():
    """A planted store of 4,096 trials whose pairs at θ_infl 0.2 cross Jaccard 0.8 between
    its prefixes 1,024 and 2,048: the forecast from its first 1,024 trials lies there."""
    t = 4096
    planted = planted_trials(t, n=400, n_test=400, memorized=150, pairs=350, infl=(0.1, 0.4),
                             seed=0)
    trials = Trials(planted.mask, planted.train_correct, planted.test_correct,
                    planted.train_labels, planted.test_labels)
    full = trials_curve(trials, np.arange(t), np.ones(t, bool), 0.25, [0.2], seed=0, splits=8)
    pairs = curve_of(full, "pairs", 0.2)
    measured = dict(zip(pairs["t"], pairs["jaccard"], strict=True))
    assert measured[1024] < 0.8 <= measured[2048]  # the crossing the forecast must find
    plan = forecast(pairs[pairs["t"] <= 1024], 0.8, "pairs", 0.25, 0.2, 20)
    assert not plan.reached and 1024 < plan.trials_needed <= 2048
    assert plan.low <= plan.trials_needed <= plan.high


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
    assert "nowhere: no such correctness store" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["plan", str(folder), "--memorized", "--infl", "0.2"])
    assert exit_.value.code == 2
