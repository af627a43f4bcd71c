"""`trials: {until: ...}` (longtail.config.until, longtail.estimators.rounds): the spec, its
rounds, and a round's verdict on planted trials."""

from __future__ import annotations

import numpy as np
import pytest
from fabricate import planted_trials

from longtail.config.until import Until, UntilError, until_of, until_summary
from longtail.estimators.reliability import Trials
from longtail.estimators.rounds import decide
from longtail.estimators.trials_curve import curve_point
from longtail.workflow.checks import ConfigError, check_study

SPEC = {"until": {"pairs": 0.7}, "step": 512, "max": 1300}


def test_rounds_step_until_max():
    until = Until.parse(SPEC)
    assert (until.set, until.target, until.rounds) == ("pairs", 0.7, 3)
    assert [until.trials_at(r) for r in range(3)] == [512, 1024, 1300]
    with pytest.raises(UntilError, match="round 3 is outside 0..2"):
        until.trials_at(3)
    assert until_of(256) is None and until_of(SPEC) == until


@pytest.mark.parametrize(("spec", "message"), [
    ({"until": {"pairs": 0.7}, "step": 0, "max": 64}, "s.trials.step = 0: must be > 0"),
    ({"until": {"pairs": 0.7}, "step": -64, "max": 64}, "s.trials.step = -64: must be > 0"),
    ({"until": {"pairs": 0.7}, "step": 64, "max": 32},
     "s.trials.max = 32 is smaller than s.trials.step = 64"),
    ({"until": {"examples": 0.7}, "step": 64, "max": 128},
     "s.trials.until.examples: unknown selection; allowed: pairs, memorized"),
    ({"until": {"pairs": 0}, "step": 64, "max": 128}, "until.pairs = 0: the target Jaccard"),
    ({"until": {"memorized": 1.01}, "step": 64, "max": 128},
     "s.trials.until.memorized = 1.01: the target Jaccard must be a number in (0, 1]"),
    ({"until": {"pairs": "high"}, "step": 64, "max": 128}, "until.pairs = 'high'"),
    ({"until": {"pairs": 0.7, "memorized": 0.9}, "step": 64, "max": 128},
     "s.trials.until must name one selection"),
    ({"until": {"pairs": 0.7}, "step": 96, "max": 128},
     "s.trials.step = 96 must be a multiple of trials_per_job = 64"),
    ({"until": {"pairs": 0.7}, "step": 64.5, "max": 128}, "s.trials.step = 64.5: must be an"),
])
def test_a_bad_spec_names_its_key(spec, message):
    with pytest.raises(UntilError) as err:
        Until.parse(spec, "s.trials", trials_per_job=64)
    assert message in str(err.value)


def test_the_config_check_refuses_a_bad_spec_as_a_config_error():
    study = {"dataset": "fashion-mnist", "n_train": 300, "n_test": 100, "label_noise": 0.0,
             "subset_ratio": 0.7, "trials_per_job": 16, "min_out_trials": 8,
             "trials": {"until": {"pairs": 0.7}, "step": 0, "max": 64},
             "train": {"ensemble_size": 16}}
    with pytest.raises(ConfigError, match=r"studies\.tiny\.trials\.step = 0: must be > 0"):
        check_study("tiny", study, {})


def planted(t: int) -> tuple[Trials, np.ndarray, np.ndarray]:
    p = planted_trials(t, n=200, n_test=90, memorized=60, pairs=80, seed=1)
    trials = Trials(p.mask, p.train_correct, p.test_correct, p.train_labels, p.test_labels)
    return trials, np.arange(t), np.ones(t, bool)


THRESHOLDS = {"mem": 0.25, "infl": "auto", "splits": 4, "min_pairs": 5,
              "grid": {"infl": [0.1, 0.2, 0.3]}}


def test_a_round_goes_on_below_the_target_and_stops_at_it_or_at_max():
    trials, ids, valid = planted(256)
    until = Until.parse({"until": {"memorized": 0.99}, "step": 32, "max": 256})
    first = decide(trials, ids, valid, until, 0, THRESHOLDS, seed=0)
    assert first["t"] == 32 and not first["reached"] and not first["stop"]
    assert first["reason"].startswith("continue: at t = 32, memorized set")
    last = decide(trials, ids, valid, until, 7, THRESHOLDS, seed=0)
    assert last["t"] == 256 and last["stop"]
    assert last["reached"] == (last["jaccard"] >= 0.99)
    assert last["reason"].startswith("reached at t = 256" if last["reached"] else "max: t = 256")


def test_auto_pairs_reach_at_the_smallest_grid_value_with_enough_pairs_a_half():
    trials, ids, valid = planted(256)
    until = Until.parse({"until": {"pairs": 0.5}, "step": 128, "max": 256})
    verdict = decide(trials, ids, valid, until, 1, THRESHOLDS, seed=0)
    table = curve_point(trials, ids, valid, 256, 0.25, [0.1, 0.2, 0.3], 0, 4)
    pairs = table[table["set"] == "pairs"].sort_values("infl")
    ok = pairs[(pairs["jaccard"] >= 0.5) & (pairs[["size_a", "size_b"]].min(axis=1) >= 5)]
    assert len(ok), "the planted pairs must replicate somewhere on the grid"
    assert verdict["reached"] and verdict["infl"] == ok["infl"].iloc[0]
    assert verdict["jaccard"] == pytest.approx(ok["jaccard"].iloc[0])
    strict = decide(trials, ids, valid, until, 1, {**THRESHOLDS, "min_pairs": 10_000}, seed=0)
    assert not strict["reached"] and strict["stop"]  # too few pairs a half; t = max
    assert "with 10000 a half" in strict["reason"]
    summary = until_summary([verdict])
    assert {k: summary[k] for k in ("target", "set", "t", "rounds", "reached")} == {
        "target": 0.5, "set": "pairs", "t": 256, "rounds": 2, "reached": True}
