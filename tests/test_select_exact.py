"""Exact thresholds: "mem >= theta" and "infl >= theta" decided from the integer counts, so
estimates that equal the threshold exactly (ties) are selected although their floats are not."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from longtail.estimators.algorithm1 import (
    infl_at_least,
    influence,
    mem_at_least,
    memorization,
    ratio_at_least,
)
from longtail.estimators.estimates import (
    estimate_store,
    iter_influence,
    load_influence,
    read_estimates,
)
from longtail.estimators.select import is_memorized, jaccard_table, select_pairs, select_pairs_file
from longtail.store.correctness import CorrectnessStore, TrialResults, write_store


def one_example(t_in: int, t_out: int, hits_in: int, hits_out: int) -> tuple[np.ndarray, ...]:
    """(t, 1) mask and correctness of one example in ``t_in`` of ``t_in + t_out`` trials."""
    mask = np.arange(t_in + t_out)[:, None] < t_in
    correct = np.zeros_like(mask)
    correct[:hits_in] = True
    correct[t_in:t_in + hits_out] = True
    return mask, correct


def test_ratio_at_least_is_exact() -> None:
    assert ratio_at_least(3, 20, 0.15) and not ratio_at_least(2999999, 20000000, 0.15)
    assert not ratio_at_least(5, 0, 0.1)  # no estimate
    assert ratio_at_least(np.int64(2**40), np.int64(2**40), 1e-9)  # exact beyond int64


def test_mem_exactly_at_threshold_is_memorized() -> None:
    mask, correct = one_example(20, 20, 7, 2)  # 7/20 - 2/20 = 0.25
    est = memorization(mask, correct, min_trials=1)
    assert est.mem[0] < 0.25  # the float is 0.2499999...
    assert mem_at_least(est.mem, est.n_in, est.n_out, 0.25)[0]
    assert not mem_at_least(est.mem, est.n_in, est.n_out, 0.2500001)[0]
    assert not mem_at_least(np.array([np.nan]), np.array([0]), np.array([20]), 0.0)[0]


def test_infl_exactly_at_threshold_is_selected() -> None:
    # t = 40 (20 in, 20 out); 9/20 - 6/20 = 0.15, 0.14999998 in float32
    mask, test = one_example(20, 20, 9, 6)
    infl, _ = influence(mask, test)
    assert infl[0, 0] < np.float32(0.15)
    assert infl_at_least(infl, [[20]], [[20]], [[15]], 0.15)[0, 0]
    assert not infl_at_least(infl, [[20]], [[20]], [[15]], 0.1500001)[0, 0]
    with pytest.raises(ValueError, match="not a function of integer trial counts"):
        infl_at_least(infl + np.float32(0.04), [[20]], [[20]], [[15]], 0.15)


def tie_store(t_in: int = 2800, t_out: int = 1200, n: int = 4, n_test: int = 400,
              seed: int = 0) -> tuple[CorrectnessStore, list[tuple[int, int]]]:
    """A store at paper scale (2,800 in / 1,200 out trials) whose memorization estimates are all
    exactly 0.25 and where each test example has exactly 0.15 influence from one designated
    training example (plus random influences of the others): ties everywhere.

    mem = h/2800 - o/1200 = 0.25 for 3h - 7o = 2100; infl = (10 h - 7 H) / 8400 = 0.15 for
    h = 126 + 0.7 H with H a multiple of 10.
    """
    rng = np.random.default_rng(seed)
    t = t_in + t_out
    mask = np.zeros((t, n), bool)
    for i in range(n):
        mask[rng.permutation(t)[:t_in], i] = True
    train_correct = np.zeros((t, n), bool)
    for i in range(n):
        out_hits = int(rng.integers(0, 60)) * 3
        in_hits = (2100 + 7 * out_hits) // 3
        inside, outside = np.flatnonzero(mask[:, i]), np.flatnonzero(~mask[:, i])
        train_correct[rng.choice(inside, in_hits, replace=False), i] = True
        train_correct[rng.choice(outside, out_hits, replace=False), i] = True
    test_correct = np.zeros((t, n_test), bool)
    designated = []
    for j in range(n_test):
        i = j % n
        hits = 10 * int(rng.integers(100, 281))
        in_hits = 126 + 7 * hits // 10
        inside, outside = np.flatnonzero(mask[:, i]), np.flatnonzero(~mask[:, i])
        test_correct[rng.choice(inside, in_hits, replace=False), j] = True
        test_correct[rng.choice(outside, hits - in_hits, replace=False), j] = True
        designated.append((i, j))
    trials = TrialResults(trial=np.arange(t), trial_seed=np.arange(t), mask=mask,
                          train_correct=train_correct, test_correct=test_correct,
                          test_accuracy=test_correct.mean(axis=1), wall_time=np.ones(t),
                          diverged=np.zeros(t, bool))
    store = CorrectnessStore(
        trials=trials, train_labels=np.zeros(n, np.int64), test_labels=np.zeros(n_test, np.int64),
        train_source_index=np.arange(n), test_source_index=np.arange(n_test),
        train_label_flipped=np.zeros(n, bool),
        attrs={"dataset": "synthetic", "arch": "none", "n": n, "n_test": n_test,
               "subset_size": t_in, "fingerprint": "ties"})
    return store, designated


def exact_influence(store: CorrectnessStore) -> list[list[Fraction]]:
    """Alg. 1 line 7 in rational arithmetic, pair by pair."""
    mask, test = store.trials.mask, store.trials.test_correct
    out = []
    for i in range(mask.shape[1]):
        n_in = int(mask[:, i].sum())
        hits_in = (mask[:, i, None] & test).sum(axis=0)
        hits_out = (~mask[:, i, None] & test).sum(axis=0)
        out.append([Fraction(int(a), n_in) - Fraction(int(b), len(mask) - n_in)
                    for a, b in zip(hits_in, hits_out, strict=True)])
    return out


@pytest.mark.parametrize("mode", ["same-class", "full"])
def test_no_tie_is_lost_at_paper_scale(tmp_path: Path, mode: str) -> None:
    store, designated = tie_store()
    write_store(tmp_path / "correctness.h5", store)
    out = tmp_path / "estimates.h5"
    estimate_store(tmp_path / "correctness.h5", out, influence=mode)
    est = read_estimates(out)
    assert is_memorized(est, 0.25).all()  # all four are exactly 0.25
    exact = exact_influence(store)
    expected = {(i, j) for i, row in enumerate(exact) for j, value in enumerate(row)
                if value >= Fraction(3, 20)}
    assert set(designated) <= expected
    summary = select_pairs_file(out, tmp_path / "pairs.csv", 0.25, 0.15)
    pairs = pd.read_csv(tmp_path / "pairs.csv")
    assert set(zip(pairs["train_index"], pairs["test_index"], strict=True)) == expected
    assert summary["n_pairs"] == len(expected) and summary["n_memorized"] == 4
    # a float comparison loses ties: the test has teeth
    stored = load_influence(out, pairs["train_index"], pairs["test_index"], pairwise=True)
    lost = int((stored < 0.15).sum())
    print(f"float32 comparison would lose {lost} of {len(expected)} pairs; "
          f"mem below 0.25 as floats: {int((est.mem < 0.25).sum())} of 4")
    assert lost > 20


def test_jaccard_table_counts_ties_once_selected_exactly(tmp_path: Path) -> None:
    store, _ = tie_store(n=2, n_test=60, seed=1)
    write_store(tmp_path / "correctness.h5", store)
    estimate_store(tmp_path / "correctness.h5", tmp_path / "estimates.h5")
    est = read_estimates(tmp_path / "estimates.h5")
    pairs = select_pairs(est, iter_influence(tmp_path / "estimates.h5"), 0.25, 0.1)
    table = jaccard_table(pairs, pairs, [0.15])
    exact = exact_influence(store)
    expected = sum(value >= Fraction(3, 20) for row in exact for value in row)
    assert table["pairs_a"].iloc[0] == expected and table["jaccard"].iloc[0] == 1.0
