"""Selection of high-influence pairs (Section 2), the summary (Section 3) and consistency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_estimates import make_store, write

from longtail.estimators.algorithm1 import InfluenceBlock, proportion_difference
from longtail.estimators.estimates import (
    Estimates,
    compute_estimates,
    estimate_store,
    load_influence,
    read_estimates,
)
from longtail.estimators.select import (
    CONSISTENCY_COLUMNS,
    EXACT_COLUMNS,
    PAIR_COLUMNS,
    consistency_table,
    count_influencers,
    jaccard_table,
    select_pairs,
    select_pairs_file,
    split_trials,
    summarize_pairs,
    write_summary,
)
from longtail.store.correctness import StoreError


def loop_pairs(mem: np.ndarray, infl: np.ndarray, train_labels: np.ndarray,
               test_labels: np.ndarray, mem_threshold: float,
               infl_threshold: float) -> list[tuple[int, int]]:
    """Section 2 read literally, over every pair."""
    return [(i, j) for i in range(len(mem)) for j in range(len(test_labels))
            if mem[i] >= mem_threshold and infl[i, j] >= infl_threshold
            and train_labels[i] == test_labels[j]]


def toy_estimates(mem: list[float], train_labels: list[int], test_labels: list[int]
                  ) -> Estimates:
    """Every example in 40 and out of 40 of 80 valid trials, every test example correct in 40
    (so mem~ is a multiple of 1/40 and infl~ = hits_in / 20 - 1)."""
    n, n_test = len(mem), len(test_labels)
    return Estimates(
        mem=np.array(mem, float), mem_se=np.zeros(n), n_in=np.full(n, 40),
        n_out=np.full(n, 40), train_labels=np.array(train_labels),
        test_labels=np.array(test_labels), train_source_index=np.arange(n) + 100,
        test_source_index=np.arange(n_test) + 200, excluded_trials=np.zeros(0, np.int64),
        attrs={"influence": "full", "n_trials": 81, "n_valid_trials": 80,
               "n_excluded_trials": 1}, test_hits=np.full(n_test, 40))


def toy_block(hits_in: list[list[int]]) -> InfluenceBlock:
    """Alg. 1 line 7 in float32 from the pairs' hits_in, as the estimator computes it."""
    hits_in = np.array(hits_in, np.float32)
    infl, se = proportion_difference(hits_in, np.float32(40), np.float32(40), 80)
    return InfluenceBlock(np.arange(len(hits_in)), np.arange(hits_in.shape[1]), infl, se)


def test_select_pairs_thresholds_are_inclusive_and_need_equal_labels() -> None:
    est = toy_estimates([0.25, 0.2, np.nan, 0.9], [0, 0, 0, 1], [0, 1, 0])
    # infl = hits_in / 20 - 1: 23 -> 0.15, 38 -> 0.9, 22 -> 0.1, 30 -> 0.5
    block = toy_block([[23, 38, 22], [38, 38, 38], [38, 38, 38], [30, 30, 30]])
    pairs = select_pairs(est, [block], 0.25, 0.15)
    assert list(pairs.columns) == [*PAIR_COLUMNS, *EXACT_COLUMNS]
    assert pairs[["train_index", "test_index"]].values.tolist() == [[0, 0], [3, 1]]
    assert pairs["label"].tolist() == [0, 1]
    assert pairs["mem"].tolist() == [0.25, 0.9]
    assert pairs["infl"].tolist() == pytest.approx([0.15, 0.5])
    assert pairs["infl_se"].tolist() == pytest.approx(block.infl_se[[0, 3], [0, 1]])
    assert pairs["infl_numerator"].tolist() == [6 * 40, 20 * 40]  # exactly 0.15 and 0.5
    assert pairs["infl_denominator"].tolist() == [1600, 1600]
    assert pairs["train_source_index"].tolist() == [100, 103]
    assert pairs["test_source_index"].tolist() == [200, 201]


def test_select_pairs_with_no_pairs() -> None:
    est = toy_estimates([0.0, 0.1], [0, 1], [0])
    block = toy_block([[40], [40]])
    pairs = select_pairs(est, [block], 0.25, 0.15)
    assert pairs.empty and list(pairs.columns) == [*PAIR_COLUMNS, *EXACT_COLUMNS]
    summary = summarize_pairs(pairs, est, 0.25, 0.15)
    assert summary["n_pairs"] == summary["n_test_examples"] == summary["n_memorized"] == 0


@pytest.mark.parametrize("mode", ["same-class", "full"])
def test_select_pairs_file_matches_loop(tmp_path: Path, mode: str) -> None:
    store = make_store(seed=20, t=300, n=60, n_test=30, classes=3)
    out = tmp_path / "estimates.h5"
    estimate_store(write(tmp_path, store), out, influence=mode)
    est = read_estimates(out)
    full_out = tmp_path / "full.h5"
    estimate_store(tmp_path / "correctness.h5", full_out, influence="full")
    infl = load_influence(full_out, np.arange(60), np.arange(30))
    expected = loop_pairs(est.mem, infl, store.train_labels, store.test_labels, 0.1, 0.15)
    assert len(expected) > 5
    csv = tmp_path / "pairs.csv"
    summary = select_pairs_file(out, csv, mem_threshold=0.1, infl_threshold=0.15)
    pairs = pd.read_csv(csv)
    assert list(pairs.columns) == list(PAIR_COLUMNS)
    assert [tuple(p) for p in pairs[["train_index", "test_index"]].values] == expected
    np.testing.assert_allclose(pairs["infl"], infl[pairs["train_index"], pairs["test_index"]],
                               rtol=1e-6)
    np.testing.assert_array_equal(pairs["train_source_index"],
                                  store.train_source_index[pairs["train_index"]])
    np.testing.assert_array_equal(pairs["test_source_index"],
                                  store.test_source_index[pairs["test_index"]])
    assert summary["n_pairs"] == len(expected)
    assert summary["n_memorized"] == int((est.mem >= 0.1).sum())


def test_summary_counts() -> None:
    est = toy_estimates([0.3, 0.5, 0.1, 0.8, np.nan], [0] * 5, [0] * 8)
    pairs = pd.DataFrame({"train_index": [0, 0, 1, 3], "test_index": [2, 5, 2, 7],
                          "infl": [0.2, 0.3, 0.4, 0.5]})
    summary = summarize_pairs(pairs, est, 0.25, 0.15)
    assert summary["n_pairs"] == 4
    assert summary["n_test_examples"] == 3
    assert summary["pct_test_examples"] == pytest.approx(100 * 3 / 8)
    assert summary["n_test_single_train"] == 2  # tests 5 and 7; test 2 has two
    assert summary["n_train_examples"] == 3
    assert summary["n_memorized"] == 3 and summary["pct_memorized"] == pytest.approx(60.0)
    assert summary["n_mem_undefined"] == 1
    assert (summary["n_valid_trials"], summary["n_excluded_trials"]) == (80, 1)


def test_write_summary_is_json(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "summary.json"
    write_summary({"n_pairs": 3, "pct_test_examples": 1.5}, path)
    assert json.loads(path.read_text()) == {"n_pairs": 3, "pct_test_examples": 1.5}


def test_select_pairs_file_needs_influence(tmp_path: Path) -> None:
    out = tmp_path / "mem.h5"
    estimate_store(write(tmp_path, make_store(seed=21)), out, influence="none")
    with pytest.raises(StoreError, match="no influence"):
        select_pairs_file(out, tmp_path / "pairs.csv", 0.25, 0.15)
    assert not (tmp_path / "pairs.csv").exists()


def test_split_trials_halves() -> None:
    use = np.ones(11, bool)
    use[[2, 7]] = False
    a, b = split_trials(use, seed=3)
    assert a.sum() == b.sum() == 4 and not (a & b).any() and not ((a | b) & ~use).any()
    a2, b2 = split_trials(use, seed=3)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    a3, _ = split_trials(use, seed=4)
    assert not np.array_equal(a, a3)


def test_jaccard_table() -> None:
    pairs_a = pd.DataFrame({"train_index": [0, 1, 2], "test_index": [0, 1, 2],
                            "infl": [0.1, 0.2, 0.3]})
    pairs_b = pd.DataFrame({"train_index": [0, 1, 3], "test_index": [0, 1, 3],
                            "infl": [0.12, 0.1, 0.4]})
    table = jaccard_table(pairs_a, pairs_b, [0.1, 0.15, 0.35, 0.5])
    assert list(table.columns) == list(CONSISTENCY_COLUMNS)
    assert table["pairs_a"].tolist() == [3, 2, 0, 0]
    assert table["pairs_b"].tolist() == [3, 1, 1, 0]
    assert table["intersection"].tolist() == [2, 0, 0, 0]
    assert table["jaccard"].tolist()[:3] == pytest.approx([2 / 4, 0, 0])
    assert np.isnan(table["jaccard"].iloc[3])


def test_consistency_table_equals_two_independent_selections(tmp_path: Path) -> None:
    store = make_store(seed=22, t=400, n=50, n_test=20, classes=2, diverged=(5, 6))
    path = write(tmp_path, store)
    thresholds = [0.05, 0.15, 0.3]
    table = consistency_table(path, thresholds, mem_threshold=0.1, seed=7)
    half_a, half_b = split_trials(~store.trials.diverged, seed=7)
    assert half_a.sum() == half_b.sum() == 199
    expected = []
    for half in (half_a, half_b):
        est, blocks = compute_estimates(path, trials=half)
        pairs = select_pairs(est, blocks, 0.1, 0.05)
        expected.append([int((pairs["infl"] >= thr).sum()) for thr in thresholds])
    assert table["pairs_a"].tolist() == expected[0]
    assert table["pairs_b"].tolist() == expected[1]
    assert (table["intersection"] <= table[["pairs_a", "pairs_b"]].min(axis=1)).all()
    assert table["pairs_a"].iloc[0] > 0
    # the planted pairs (infl 0.4: test j is helped by the first training example of its
    # class) are found by both halves; near-zero noise pairs are not: selection is consistent
    # at high thresholds only
    assert table["jaccard"].iloc[2] > 0.7 > 0.3 > table["jaccard"].iloc[0]


def test_both_readings_of_a_single_training_example() -> None:
    # train 0 (mem 0.25) and train 1 (mem 0.2, not memorized) both influence test 0 at 0.15;
    # test 1 is influenced by train 0 only; test 2 by train 0 and train 2 (NaN mem)
    est = toy_estimates([0.25, 0.2, np.nan], [0, 0, 0], [0, 0, 0])
    block = toy_block([[23, 30, 30], [23, 20, 20], [20, 20, 30]])
    pairs = select_pairs(est, [block], 0.25, 0.15)
    assert pairs[["train_index", "test_index"]].values.tolist() == [[0, 0], [0, 1], [0, 2]]
    influencers = count_influencers(est, [block], 0.15)
    assert influencers.tolist() == [2, 1, 2]  # a NaN mem (train 2) is still an influencer
    summary = summarize_pairs(pairs, est, 0.25, 0.15, influencers)
    assert summary["n_test_single_train"] == 3  # each test is in exactly one selected pair
    assert summary["n_test_single_train_any_mem"] == 1  # tests 0 and 2 have two influencers


def test_readings_on_a_store(tmp_path: Path) -> None:
    store = make_store(seed=23, t=200, n=60, n_test=40, classes=2)
    out = tmp_path / "estimates.h5"
    estimate_store(write(tmp_path, store), out)
    summary = select_pairs_file(out, tmp_path / "pairs.csv", 0.1, 0.1)
    assert summary["n_test_single_train_any_mem"] <= summary["n_test_single_train"]
    assert summary["n_test_single_train"] <= summary["n_test_examples"]
