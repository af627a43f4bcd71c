"""Reliability of every selection: split-half Jaccard, `auto` thresholds and the pairs
expected by chance (Section 2, "Selection of pairs"; Sec. C)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_estimates import make_store, write

from longtail.estimators.estimates import compute_estimates, estimate_store, read_estimates
from longtail.estimators.reliability import (
    MEM_COLUMNS,
    chance_pairs,
    choose_threshold,
    mean_over_splits,
    reliability,
    summary_fields,
)
from longtail.estimators.select import (
    CONSISTENCY_COLUMNS,
    is_memorized,
    jaccard_table,
    select_pairs,
    select_pairs_file,
    split_halves,
    split_trials,
)
from longtail.estimators.summary import reliability_note
from longtail.store.correctness import CorrectnessStore, TrialResults

GRID = {"mem": [0.05, 0.1, 0.2, 0.3], "infl": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35]}


def null_store(seed: int = 0, t: int = 120, n: int = 80, n_test: int = 80, classes: int = 2
               ) -> CorrectnessStore:
    """Memorization (correct on i more often when i is in I_k) but no influence at all: test
    correctness is independent of the subsets."""
    store = make_store(seed=seed, t=t, n=n, n_test=n_test, classes=classes)
    rng = np.random.default_rng(seed + 1)
    test_correct = rng.random((t, n_test)) < rng.uniform(0.3, 0.8, n_test)
    trials = TrialResults(**{**store.trials.__dict__, "test_correct": test_correct,
                             "test_accuracy": test_correct.mean(axis=1)})
    return CorrectnessStore(**{**store.__dict__, "trials": trials})


def run(tmp_path: Path, store: CorrectnessStore, thresholds: dict) -> tuple[dict, pd.DataFrame]:
    path = write(tmp_path, store)
    estimate_store(path, tmp_path / "estimates.h5")
    return reliability(path, tmp_path / "estimates.h5", thresholds, seed=3, min_trials=1)


def test_choose_threshold_takes_the_smallest_value_reaching_the_target() -> None:
    table = pd.DataFrame({"threshold": [0.05, 0.1, 0.15, 0.2], "jaccard": [0.5, 0.72, 0.6, 0.9]})
    assert choose_threshold(table, [0.05, 0.1, 0.15, 0.2], 0.7) == 0.1
    assert choose_threshold(table, [0.05, 0.15], 0.7) is None
    assert choose_threshold(table, [0.05, 0.1], 0.95) is None


def one_split(path: Path, half_a: np.ndarray, half_b: np.ndarray, mem: float,
              infl_values: list[float]) -> tuple[list[int], pd.DataFrame]:
    """The memorized-set sizes (a, b, both) and the pair table of one split, the way one-split
    versions computed them: Algorithm 1 and the selection from the store on each half."""
    selections = []
    for half in (half_a, half_b):
        est, blocks = compute_estimates(path, trials=half, min_trials=1)
        selections.append((is_memorized(est, mem), select_pairs(est, blocks, mem, 0.05)))
    (mem_a, pairs_a), (mem_b, pairs_b) = selections
    sizes = [int(mem_a.sum()), int(mem_b.sum()), int((mem_a & mem_b).sum())]
    return sizes, jaccard_table(pairs_a, pairs_b, infl_values)


def test_one_split_reproduces_the_single_split_numbers(tmp_path: Path) -> None:
    store = make_store(seed=22, t=400, n=50, n_test=20, classes=2, diverged=(5,))  # 399: odd
    report, table = run(tmp_path, store, {"mem": 0.1, "infl": 0.15, "grid": GRID, "splits": 1})
    sizes, expected = one_split(tmp_path / "correctness.h5",
                                *split_trials(~store.trials.diverged, seed=3), 0.1,
                                table["threshold"].tolist())
    assert report["splits"] == 1 and report["split_seed"] == 3
    assert report["mem"]["sizes"] == sizes
    assert report["mem"]["jaccard"] == pytest.approx(sizes[2] / (sizes[0] + sizes[1] - sizes[2]))
    pd.testing.assert_frame_equal(table[list(expected.columns)], expected, check_dtype=False)
    assert (table["jaccard_min"].fillna(-1) == table["jaccard_max"].fillna(-1)).all()
    assert (table["jaccard_std"].fillna(0) == 0).all()


def test_split_half_jaccards_are_the_mean_over_independent_splits(tmp_path: Path) -> None:
    store = make_store(seed=22, t=400, n=50, n_test=20, classes=2, diverged=(5,))
    report, table = run(tmp_path, store, {"mem": 0.1, "infl": "auto", "grid": GRID,
                                          "splits": 3, "min_pairs": 1})
    halves_a, halves_b = split_halves(~store.trials.diverged, 3, 3)
    np.testing.assert_array_equal(halves_a[0], split_trials(~store.trials.diverged, 3)[0])
    splits = [one_split(tmp_path / "correctness.h5", a, b, 0.1, table["threshold"].tolist())
              for a, b in zip(halves_a, halves_b, strict=True)]
    mem = np.array([[s[2] / (s[0] + s[1] - s[2])] for s, _ in splits])
    assert report["splits"] == 3 and report["mem"]["jaccard"] == pytest.approx(mem.mean())
    assert (report["mem"]["jaccard_min"], report["mem"]["jaccard_max"]) == \
        pytest.approx((mem.min(), mem.max()))
    pairs = np.stack([t[["pairs_a", "pairs_b", "intersection", "jaccard"]].to_numpy()
                      for _, t in splits])
    np.testing.assert_allclose(table[["pairs_a", "pairs_b", "intersection"]],
                               pairs[..., :3].mean(axis=0))
    np.testing.assert_allclose(table["jaccard"], np.nanmean(pairs[..., 3], axis=0))
    np.testing.assert_allclose(table["jaccard_std"], np.nanstd(pairs[..., 3], axis=0))
    np.testing.assert_allclose(table["jaccard_min"], np.nanmin(pairs[..., 3], axis=0))
    # the planted influence (0.4) replicates; auto finds a threshold
    infl = report["infl"]
    assert infl["mode"] == "auto" and infl["reached"] and infl["replicates"]
    assert infl["jaccard"] >= 0.7 and infl["used"] == infl["chosen"] <= 0.35
    smaller = table[table["threshold"] < infl["chosen"]]
    assert (smaller["jaccard"].fillna(0) < 0.7).all()
    # the planted pairs are far above chance
    est = read_estimates(tmp_path / "estimates.h5")
    summary = select_pairs_file(tmp_path / "estimates.h5", tmp_path / "pairs.csv", 0.1,
                                infl["used"])
    fields = summary_fields(report)
    note = reliability_note(fields, summary["n_pairs"], 0.1, infl["used"])
    assert fields["replicates"] and fields["n_pairs_chance"] < summary["n_pairs"] / 3
    assert fields["threshold_search"]["infl"]["chosen"] == infl["chosen"]
    assert fields["splits"] == 3 and fields["jaccard_pairs_min"] <= fields["jaccard_pairs"]
    assert "replicate:" in note and "mean of 3 random half-splits" in note
    assert is_memorized(est, 0.1).sum() > 0
    again, again_table = run(tmp_path, store, {"mem": 0.1, "infl": "auto", "grid": GRID,
                                               "splits": 3, "min_pairs": 1})
    assert again == report  # reruns are bit-identical
    pd.testing.assert_frame_equal(again_table, table)


def test_mean_and_spread_over_splits_by_hand() -> None:
    # 3 splits x 2 thresholds of (half A, half B, intersection)
    counts = np.array([[[2, 2, 1], [0, 0, 0]],
                       [[3, 1, 1], [1, 0, 0]],
                       [[4, 4, 4], [0, 0, 0]]])
    table = mean_over_splits([0.1, 0.2], counts, CONSISTENCY_COLUMNS)
    first, second = table.iloc[0], table.iloc[1]
    jaccards = np.array([1 / 3, 1 / 3, 1.0])
    assert (first["pairs_a"], first["pairs_b"], first["intersection"]) == (3, 7 / 3, 2)
    assert first["jaccard"] == pytest.approx(5 / 9)
    assert (first["jaccard_min"], first["jaccard_max"]) == (pytest.approx(1 / 3), 1.0)
    assert first["jaccard_std"] == pytest.approx(jaccards.std())
    assert first["jaccard_splits"] == 3
    # both halves empty in two splits: the mean is over the one split that selected anything
    assert (second["jaccard"], second["jaccard_std"], second["jaccard_splits"]) == (0, 0, 1)
    empty = mean_over_splits([0.5], np.zeros((2, 1, 3), np.int64), MEM_COLUMNS)
    assert np.isnan(empty["jaccard"].iloc[0]) and empty["jaccard_splits"].iloc[0] == 0


def test_too_few_pairs_per_half_are_not_chosen(tmp_path: Path) -> None:
    # 6 test examples, each helped (infl 0.4) by one training example: ~6 pairs per half that
    # replicate almost perfectly, on one split as on the mean of many
    store = make_store(seed=4, t=400, n=40, n_test=6, classes=2)
    grid = {"mem": [0.1], "infl": [0.2, 0.25, 0.3]}
    few, _ = run(tmp_path, store, {"mem": 0.1, "infl": "auto", "grid": grid, "splits": 1,
                                   "min_pairs": 0})
    assert few["infl"]["reached"] and few["infl"]["jaccard"] >= 0.7
    assert max(few["infl"]["sizes"][:2]) < 10
    report, _ = run(tmp_path, store, {"mem": 0.1, "infl": "auto", "grid": grid,
                                      "min_pairs": 20})
    infl = report["infl"]
    assert not infl["reached"] and infl["chosen"] is None and infl["used"] == 0.15
    assert not infl["replicates"] and report["min_pairs"] == 20
    fields = summary_fields(report)
    note = reliability_note(fields, 12, 0.1, 0.15)
    assert not fields["replicates"] and "do not replicate" in note
    assert "with at least 20 pairs per half" in note


def test_zero_influence_store_pairs_are_chance_and_auto_selects_nothing(tmp_path: Path) -> None:
    report, table = run(tmp_path, null_store(), {"mem": 0.1, "infl": "auto", "grid": GRID,
                                                  "chance_permutations": 8})
    summary = select_pairs_file(tmp_path / "estimates.h5", tmp_path / "pairs.csv", 0.1, 0.15)
    fields = summary_fields(report)
    note = reliability_note(fields, summary["n_pairs"], 0.1, 0.15)
    # the null's count matches what is observed when every true influence is zero
    observed, expected = summary["n_pairs"], fields["n_pairs_chance"]
    assert observed > 20
    assert abs(observed - expected) < 4 * np.sqrt(expected) + 5
    # no threshold on the grid replicates; the paper's value is used and flagged
    infl = report["infl"]
    assert not infl["reached"] and infl["chosen"] is None and infl["used"] == 0.15
    assert not fields["replicates"] and "do not replicate" in note
    assert "No θ_infl on the grid" in note
    assert (table["jaccard"].fillna(0) < 0.7).all()


def test_chance_pairs_on_a_store_with_planted_influence(tmp_path: Path) -> None:
    store = make_store(seed=5, t=300, n=40, n_test=30, classes=2)
    path = write(tmp_path, store)
    estimate_store(path, tmp_path / "estimates.h5")
    est = read_estimates(tmp_path / "estimates.h5")
    memorized = np.ones(40, bool)
    counts = chance_pairs(path, est, memorized, [0.0, 0.3, 1.0], permutations=3, seed=1)
    same = (est.train_labels[:, None] == est.test_labels[None, :]).sum()
    assert counts[0] <= same and counts[2] == 0
    assert counts[1] < 2  # the planted 0.4 influences are gone under the null
    again = chance_pairs(path, est, memorized, [0.0, 0.3, 1.0], permutations=3, seed=1)
    np.testing.assert_array_equal(counts, again)
