"""Removal runs (Fig. 2 and the pairs' marginal utility): plans, seeds, shard files, summaries."""

from __future__ import annotations

import math
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
from scipy import stats

from longtail.config.study import (
    parse_part,
    random_part,
    removal_seed,
    removal_shards,
    threshold_part,
    trial_seed,
)
from longtail.estimators.removal import (
    RemovalError,
    equivalent_random_removal,
    marginal_utility,
    pairs_removed,
    plan_part,
    random_keep,
    random_removal_curve,
    read_removal,
    removal_curve,
    satterthwaite_df,
    welch_difference,
    write_removal,
)
from longtail.estimators.select import is_memorized


def test_part_names_round_trip_by_value():
    assert threshold_part(0.25) == "mem-0.25"
    assert threshold_part(1.0) == "mem-1"
    assert threshold_part(0.1) == "mem-0.1"
    assert threshold_part(0) == "mem-0"
    assert parse_part("mem-0.25") == ("mem", 0.25)
    family, threshold = parse_part("full")
    assert family == "full" and math.isnan(threshold)
    assert parse_part("pairs")[0] == "pairs"
    assert random_part(0.3) == "random-0.3" and parse_part("random-0.3") == ("random", 0.3)
    assert random_part(0.125) == "random-0.125"
    for bad in ("mem-", "mem-x", "random", "mem-0.2.5", "random-"):
        with pytest.raises(ValueError, match="unknown removal part"):
            parse_part(bad)
    with pytest.raises(ValueError, match="outside"):
        threshold_part(1.5)
    for bad in (0, 1, 1.5):
        with pytest.raises(ValueError, match="outside"):
            random_part(bad)


def counts_estimates(mem: np.ndarray, n_in: int = 20, n_out: int = 20) -> SimpleNamespace:
    n = len(mem)
    return SimpleNamespace(mem=mem, n_in=np.full(n, n_in), n_out=np.full(n, n_out))


def test_memorized_set_is_mem_at_or_above_threshold_exactly_and_never_nan():
    # 7/20 - 2/20 is exactly 0.25 in counts, a rounding below it as a float
    mem = np.array([0.0, 0.3, 0.6, np.nan, 7 / 20 - 2 / 20, -0.1])
    assert mem[4] < 0.25
    np.testing.assert_array_equal(is_memorized(counts_estimates(mem), 0.25),
                                  [False, True, True, False, True, False])
    assert not is_memorized(counts_estimates(mem), 1.0).any()


def test_seeds_are_distinct_and_never_a_trial_seed():
    seeds = {removal_seed(0, part, kind, r)
             for part, kinds in (("full", ("full",)), ("mem-0.25", ("memorized", "random")),
                                 ("mem-0.5", ("memorized", "random")),
                                 ("pairs", ("pairs", "random")), ("random-0.25", ("random",)),
                                 ("random-0.5", ("random",)))
             for kind in kinds for r in range(50)}
    assert len(seeds) == 50 * 9
    assert not seeds & {trial_seed(0, k) for k in range(5000)}
    assert removal_seed(0, "mem-0.25", "random", 3) == removal_seed(0, "mem-0.25", "random", 3)
    assert removal_seed(0, "mem-0.25", "random", 3) != removal_seed(1, "mem-0.25", "random", 3)
    assert all(0 <= s < 2**63 for s in seeds)


def test_random_keep_removes_exactly_count():
    keep = random_keep(100, 30, seed=5)
    assert keep.sum() == 70
    np.testing.assert_array_equal(keep, random_keep(100, 30, seed=5))
    assert not np.array_equal(keep, random_keep(100, 30, seed=6))
    with pytest.raises(ValueError):
        random_keep(10, 11, seed=0)


def test_threshold_plan_removes_memorized_and_as_many_fresh_random_examples():
    n = 1000
    mem = np.round(np.linspace(-0.2, 1.0, n) * 400) / 400  # multiples of 1 / (n_in n_out)
    removed = is_memorized(counts_estimates(mem), 0.5)
    count = int(removed.sum())
    plan = plan_part("mem-0.5", 0, n, range(3), removed)
    assert plan.kind.tolist() == ["memorized", "random"] * 3
    assert plan.repeat.tolist() == [0, 0, 1, 1, 2, 2]
    assert plan.threshold == 0.5 and plan.removed.sum() == count
    assert (plan.keep.sum(axis=1) == n - count).all()  # equal sizes: one batched group
    for row in np.flatnonzero(plan.kind == "memorized"):
        np.testing.assert_array_equal(plan.keep[row], mem < 0.5)
    randoms = plan.keep[plan.kind == "random"]
    assert len({r.tobytes() for r in randoms}) == 3  # a fresh draw per repeat
    assert (randoms & removed[None]).sum() < count * 3  # not the memorized ones
    assert len(set(plan.seed.tolist())) == 6
    # A job of repeats [1, 3) plans exactly the runs the whole range plans for them.
    part = plan_part("mem-0.5", 0, n, range(1, 3), removed)
    np.testing.assert_array_equal(part.keep, plan.keep[2:])
    np.testing.assert_array_equal(part.seed, plan.seed[2:])


def test_full_and_pairs_plans():
    full = plan_part("full", 0, 10, range(2))
    assert full.kind.tolist() == ["full", "full"] and full.keep.all()
    removed = pairs_removed(np.array([3, 3, 7]), 10)
    assert removed.sum() == 2 and removed[[3, 7]].all()
    pairs = plan_part("pairs", 0, 10, range(1), removed)
    assert pairs.kind.tolist() == ["pairs", "random"]
    np.testing.assert_array_equal(pairs.keep[0], ~removed)
    assert pairs.keep[1].sum() == 8
    with pytest.raises(ValueError, match="removes all 3"):
        plan_part("mem-0", 0, 3, range(1), np.ones(3, bool))


def test_random_size_plans_remove_a_fraction_afresh_per_repeat():
    plan = plan_part("random-0.3", 0, 1000, range(4))
    assert plan.kind.tolist() == ["random"] * 4 and plan.repeat.tolist() == [0, 1, 2, 3]
    assert math.isnan(plan.threshold) and not plan.removed.any()
    assert (plan.keep.sum(axis=1) == 700).all()
    assert len({row.tobytes() for row in plan.keep}) == 4
    np.testing.assert_array_equal(plan_part("random-0.3", 0, 1000, range(2, 4)).keep,
                                  plan.keep[2:])
    # another fraction or the same fraction of Fig. 2 draws other examples
    assert not np.array_equal(plan_part("random-0.31", 0, 1000, range(1)).keep[0],
                              plan.keep[0])


def test_removal_shards_split_repeats_like_trial_shards():
    assert removal_shards(4, 64) == [(0, 4)]
    assert removal_shards(10, 8) == [(0, 4), (4, 8), (8, 10)]
    assert removal_shards(3, 1) == [(0, 1), (1, 2), (2, 3)]


def _write(path, plan, test_correct, n_test, diverged=None, fingerprint="abc"):
    runs = len(plan.kind)
    write_removal(path, plan, test_correct, np.ones(runs),
                  np.zeros(runs, bool) if diverged is None else diverged,
                  {"part": plan.part, "threshold": plan.threshold, "removed":
                   int(plan.removed.sum()), "n": plan.keep.shape[1], "n_test": n_test,
                   "fingerprint": fingerprint})


def _rows(*accuracies: float, n_test: int = 10) -> np.ndarray:
    """(runs, n_test) correctness whose first round(a * n_test) entries are right."""
    out = np.zeros((len(accuracies), n_test), bool)
    for row, accuracy in enumerate(accuracies):
        out[row, :round(accuracy * n_test)] = True
    return out


@pytest.fixture
def shards(tmp_path):
    """Full (acc .8, .9), mem-0.5 (memorized .6, .7; random .8, .8), pairs (pairs .5, .6;
    random .9, .8) and random-0.5 (.5, .6) runs, n = 8."""
    n = 8
    mem = np.array([0.0, 0.1, 0.2, 0.3, 0.6, 0.7, 0.0, 0.9])
    full = plan_part("full", 0, n, range(2))
    _write(tmp_path / "full.h5", full, _rows(0.8, 0.9), 10)
    mem_plan = plan_part("mem-0.5", 0, n, range(2), is_memorized(counts_estimates(mem), 0.5))
    _write(tmp_path / "mem.h5", mem_plan, _rows(0.6, 0.8, 0.7, 0.8), 10)
    pairs = plan_part("pairs", 0, n, range(2), pairs_removed(np.array([4, 7]), n))
    # test examples 0-2 belong to the pairs: right before, wrong after removing the pairs
    _write(tmp_path / "pairs.h5", pairs, _rows(0.5, 0.9, 0.6, 0.8), 10)
    _write(tmp_path / "random.h5", plan_part("random-0.5", 0, n, range(2)), _rows(0.5, 0.6), 10)
    return tmp_path


def test_shards_round_trip_and_fig2_numbers(shards):
    results = read_removal([shards / "full.h5", shards / "mem.h5"])
    assert results.mask.shape == (6, 8) and results.test_correct.shape == (6, 10)
    assert results.part.tolist() == ["full"] * 2 + ["mem-0.5"] * 4
    curve = removal_curve(results)
    assert curve["kind"].tolist() == ["full", "memorized", "random"]
    full, memorized, random = (curve.iloc[i] for i in range(3))
    assert math.isnan(full["threshold"]) and full["removed"] == 0
    assert full["accuracy_mean"] == pytest.approx(0.85)
    assert full["accuracy_std"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert memorized["threshold"] == 0.5 and memorized["removed"] == 3
    assert memorized["fraction_remaining"] == pytest.approx(5 / 8)
    assert memorized["accuracy_mean"] == pytest.approx(0.65)
    assert random["accuracy_mean"] == pytest.approx(0.8) and random["accuracy_std"] == 0
    assert random["removed"] == 3 and random["models"] == 2
    assert memorized["accuracy_se"] == pytest.approx(np.std([0.6, 0.7], ddof=1) / np.sqrt(2))
    # memorized - random = 0.65 - 0.8; random has no spread, so Welch's df is R - 1 = 1
    assert memorized["difference_mean"] == pytest.approx(-0.15)
    assert memorized["difference_se"] == pytest.approx(0.05)
    assert memorized["difference_df"] == pytest.approx(1)
    assert memorized["difference_low"] == pytest.approx(-0.15 - 12.706205 * 0.05)
    assert memorized["difference_high"] == pytest.approx(-0.15 + 12.706205 * 0.05)
    assert curve.loc[curve["kind"] != "memorized", "difference_mean"].isna().all()


def test_diverged_runs_are_left_out(tmp_path):
    plan = plan_part("full", 0, 4, range(3))
    _write(tmp_path / "f.h5", plan, _rows(0.5, 0.6, 0.0, n_test=10), 10,
           diverged=np.array([False, False, True]))
    curve = removal_curve(read_removal([tmp_path / "f.h5"]))
    assert curve["models"].tolist() == [2]
    assert curve["accuracy_mean"].iloc[0] == pytest.approx(0.55)


def test_marginal_utility_numbers(shards):
    results = read_removal([shards / "full.h5", shards / "pairs.h5"])
    utility = marginal_utility(results, np.array([0, 1, 1, 8]))  # unique: 0, 1, 8
    assert utility["removed_pairs"] == 2 and utility["removed_random"] == 2
    assert utility["pairs_test_examples"] == 3
    assert utility["accuracy_full_mean"] == pytest.approx(0.85)
    # drop = 0.85 - accuracy of each removal run: pairs runs .5 and .6, random .9 and .8
    assert utility["drop_pairs_mean"] == pytest.approx(0.3)
    assert utility["drop_pairs_std"] == pytest.approx(np.std([0.35, 0.25], ddof=1))
    assert utility["drop_random_mean"] == pytest.approx(0.0)
    # full runs (8 and 9 of 10 right) get test examples 0 and 1 right, 8 only in the second
    assert utility["pairs_accuracy_before_mean"] == pytest.approx(np.mean([2 / 3, 1.0]))
    assert utility["pairs_accuracy_after_pairs_mean"] == pytest.approx(2 / 3)
    assert utility["pairs_accuracy_after_random_mean"] == pytest.approx(np.mean([1.0, 2 / 3]))
    with pytest.raises(ValueError, match="full"):
        marginal_utility(read_removal([shards / "pairs.h5"]), np.array([0]))
    # without random-* parts the curve is k = 0 (.85) and k = 2 (.85): the pairs' .55 lies
    # beyond it, and every k is incompatible
    assert utility["equivalent_random_beyond"] and utility["random_removed_max"] == 2
    assert math.isnan(utility["equivalent_random"])


def test_random_removal_curve_and_equivalent_count(shards):
    results = read_removal([shards / "full.h5", shards / "pairs.h5", shards / "random.h5",
                            shards / "mem.h5"])
    curve = random_removal_curve(results)  # Fig. 2's random runs are not on it
    assert curve["removed"].tolist() == [0, 2, 4] and curve["models"].tolist() == [2, 2, 2]
    np.testing.assert_allclose(curve["accuracy_mean"], [0.85, 0.85, 0.55])
    utility = marginal_utility(results, np.array([0]))
    # the pairs' runs (.5, .6) reach the random curve's .55 exactly at k = 4, its last point
    assert utility["equivalent_random"] == pytest.approx(4.0)
    assert not utility["equivalent_random_beyond"] and utility["random_removed_max"] == 4
    assert math.isnan(utility["equivalent_random_high"])  # "more than 4" at 95%
    assert utility["random_sizes"] == 2


def test_welch_interval_known_answers():
    # equal spread and size: se = sqrt(2/2 + 2/2), df = 2 (R_a + R_b - 2), t(.975, 2) = 4.302653
    diff = welch_difference(2.0, np.sqrt(2), 2, 1.0, np.sqrt(2), 2)
    assert diff.mean == pytest.approx(1) and diff.se == pytest.approx(np.sqrt(2))
    assert diff.df == pytest.approx(2)
    assert diff.low == pytest.approx(1 - 4.302653 * np.sqrt(2), abs=1e-6)
    assert diff.high == pytest.approx(1 + 4.302653 * np.sqrt(2), abs=1e-6)
    # one group without spread: df = R - 1 of the other
    a, b = np.array([0.0, 2.0, 4.0]), np.array([1.0, 1.0])
    diff = welch_difference(a.mean(), a.std(ddof=1), 3, b.mean(), b.std(ddof=1), 2)
    assert diff.df == pytest.approx(2) and diff.se == pytest.approx(np.sqrt(4 / 3))
    # and scipy's Welch test agrees on arbitrary arrays, vectorised
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 5), rng.normal(1, 2, 7)
    diff = welch_difference(np.array([a.mean()] * 2), np.array([a.std(ddof=1)] * 2), 5,
                            b.mean(), b.std(ddof=1), 7)
    reference = stats.ttest_ind(a, b, equal_var=False)
    assert diff.df == pytest.approx([reference.df] * 2)
    interval = reference.confidence_interval(0.95)
    np.testing.assert_allclose(diff.low, interval.low)
    np.testing.assert_allclose(diff.high, interval.high)
    assert satterthwaite_df(np.zeros((2, 1)), np.full((2, 1), 4)) == np.inf
    assert math.isnan(welch_difference(1.0, math.nan, 1, 0.0, 0.1, 3).low)


def test_equivalent_random_removal_known_answers():
    removed, mean = np.array([0, 100, 200]), np.array([0.9, 0.8, 0.7])
    exact = (removed, mean, np.zeros(3), np.full(3, 4))  # a curve without spread, R = 4

    def target(center):  # four runs, mean center, se 0.0091287, df 3: t * se = 0.029051
        runs = center + np.array([-0.02, -0.01, 0.01, 0.02])
        return runs.mean(), runs.std(ddof=1), 4

    inside = equivalent_random_removal(*exact, *target(0.75))
    assert inside.count == pytest.approx(150) and not inside.beyond
    assert (inside.low, inside.high, inside.largest) == (121, 179, 200)  # 150 -+ 29.05
    assert stats.t.ppf(0.975, 3) * np.sqrt(1e-3 / 3 / 4) == pytest.approx(0.029051, abs=1e-6)
    open_ended = equivalent_random_removal(*exact, *target(0.71))
    assert open_ended.count == pytest.approx(190) and open_ended.low == 161
    assert math.isnan(open_ended.high)  # compatible up to the largest k: "more than 200"
    beyond = equivalent_random_removal(*exact, *target(0.65))
    assert beyond.beyond and math.isnan(beyond.count)
    assert math.isnan(beyond.low) and math.isnan(beyond.high)
    assert equivalent_random_removal(*exact, *target(0.95)).count == 0
    # the curve's own spread widens the interval
    wide = equivalent_random_removal(removed, mean, np.full(3, 0.03), np.full(3, 4),
                                     *target(0.75))
    assert wide.low < inside.low and wide.high > inside.high
    with pytest.raises(ValueError, match="ascending"):
        equivalent_random_removal(removed[::-1], mean, *exact[2:], *target(0.75))


def test_reader_refuses_duplicates_foreign_and_incomplete_shards(shards, tmp_path):
    with pytest.raises(RemovalError, match="twice"):
        read_removal([shards / "full.h5", shards / "full.h5"])
    other = tmp_path / "other.h5"
    _write(other, plan_part("pairs", 0, 8, range(2, 3), np.zeros(8, bool)),
           _rows(0.5, 0.5), 10, fingerprint="xyz")
    with pytest.raises(RemovalError, match="another study"):
        read_removal([shards / "full.h5", other])
    with h5py.File(shards / "mem.h5", "a") as h5:
        del h5.attrs["complete"]
    with pytest.raises(RemovalError, match="incomplete"):
        read_removal([shards / "mem.h5"])
    with pytest.raises(RemovalError, match="no removal shards"):
        read_removal([])
