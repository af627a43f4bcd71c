"""Reliability of every selection: split-half Jaccard, `auto` thresholds and the pairs
expected by chance (Section 2, "Selection of pairs"; Sec. C)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_estimates import make_store, write

from longtail.estimates import compute_estimates, estimate_store, read_estimates
from longtail.reliability import (
    chance_pairs,
    choose_threshold,
    reliability,
    summary_fields,
)
from longtail.reporting.reliability import reliability_note
from longtail.select import is_memorized, select_pairs, select_pairs_file, split_trials
from longtail.store import CorrectnessStore, TrialResults

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


def test_split_half_jaccards_are_those_of_two_independent_selections(tmp_path: Path) -> None:
    store = make_store(seed=22, t=400, n=50, n_test=20, classes=2)
    report, table = run(tmp_path, store, {"mem": 0.1, "infl": "auto", "grid": GRID})
    half_a, half_b = split_trials(~store.trials.diverged, seed=3)
    selections = []
    for half in (half_a, half_b):
        est, blocks = compute_estimates(tmp_path / "correctness.h5", trials=half, min_trials=1)
        selections.append((is_memorized(est, 0.1),
                           select_pairs(est, blocks, 0.1, 0.05)))
    (mem_a, pairs_a), (mem_b, pairs_b) = selections
    assert report["mem"]["jaccard"] == pytest.approx((mem_a & mem_b).sum() / (mem_a | mem_b).sum())
    for threshold, row in zip(table["threshold"], table.itertuples(), strict=True):
        a = set(zip(*pairs_a[pairs_a["infl"] >= threshold - 1e-6][["train_index", "test_index"]]
                    .to_numpy().T, strict=True))
        assert row.pairs_a == len(a)
    # the planted influence (0.4) replicates; auto finds a threshold
    infl = report["infl"]
    assert infl["mode"] == "auto" and infl["reached"]
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
    assert "replicate:" in note
    assert is_memorized(est, 0.1).sum() > 0


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
