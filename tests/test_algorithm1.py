"""The pure estimators of Algorithm 1 against a direct, obviously correct loop implementation,
and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from longtail.estimators.algorithm1 import (
    TooFewTrialsWarning,
    class_layout,
    count_few_trials,
    influence,
    influence_blocks,
    memorization,
    proportion_difference,
    same_class_influence,
)


def loop_estimates(mask: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Alg. 1 line 7 read literally: for every i and target column j, the fraction of trials
    with i in I_k where the target is correct minus the fraction with i not in I_k."""
    t, n = mask.shape
    n_target = target.shape[1]
    est = np.full((n, n_target), np.nan)
    se = np.full((n, n_target), np.nan)
    n_in = np.zeros(n, int)
    n_out = np.zeros(n, int)
    for i in range(n):
        ins = [k for k in range(t) if mask[k, i]]
        outs = [k for k in range(t) if not mask[k, i]]
        n_in[i], n_out[i] = len(ins), len(outs)
        if not ins or not outs:
            continue
        for j in range(n_target):
            p1 = sum(bool(target[k, j]) for k in ins) / len(ins)
            p0 = sum(bool(target[k, j]) for k in outs) / len(outs)
            est[i, j] = p1 - p0
            se[i, j] = math.sqrt(p1 * (1 - p1) / len(ins) + p0 * (1 - p0) / len(outs))
    return {"est": est, "se": se, "n_in": n_in, "n_out": n_out}


def random_trials(seed: int, t: int = 37, n: int = 23, n_test: int = 11, m: int = 15
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform size-m subsets (Alg. 1 line 1) with correctness that depends on membership."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((t, n), bool)
    for k in range(t):
        mask[k, rng.choice(n, m, replace=False)] = True
    rate = rng.random(n)
    train_correct = rng.random((t, n)) < np.where(mask, 0.5 + rate / 2, rate)
    test_correct = rng.random((t, n_test)) < rng.random(n_test)
    return mask, train_correct, test_correct


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_memorization_matches_loop(seed: int) -> None:
    mask, train_correct, _ = random_trials(seed)
    ref = loop_estimates(mask, train_correct)
    got = memorization(mask, train_correct, min_trials=1)
    np.testing.assert_allclose(got.mem, np.diag(ref["est"]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.mem_se, np.diag(ref["se"]), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got.n_in, ref["n_in"])
    np.testing.assert_array_equal(got.n_out, ref["n_out"])
    assert got.n_few == 0


@pytest.mark.parametrize("block_size", [1, 5, 7, 23, 64])
def test_full_influence_matches_loop(block_size: int) -> None:
    mask, _, test_correct = random_trials(3)
    ref = loop_estimates(mask, test_correct)
    infl, se = influence(mask, test_correct, block_size=block_size)
    assert infl.dtype == np.float32 and infl.shape == (23, 11)
    np.testing.assert_allclose(infl, ref["est"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(se, ref["se"], rtol=0, atol=1e-6)


def test_influence_blocks_cover_rows_once() -> None:
    mask, _, test_correct = random_trials(4)
    blocks = list(influence_blocks(mask, test_correct, block_size=10))
    assert [b.train_index.tolist() for b in blocks] == [
        list(range(0, 10)), list(range(10, 20)), list(range(20, 23))]
    assert all(b.test_index.tolist() == list(range(11)) for b in blocks)


def test_same_class_influence_matches_loop() -> None:
    mask, _, test_correct = random_trials(5)
    rng = np.random.default_rng(5)
    train_labels = rng.integers(0, 4, 23)
    test_labels = rng.integers(1, 5, 11)  # class 0 has no test, class 4 no train examples
    ref = loop_estimates(mask, test_correct)
    blocks = same_class_influence(mask, test_correct, train_labels, test_labels)
    assert len(blocks) == 5
    seen = np.zeros((23, 11), bool)
    for block in blocks:
        labels = set(train_labels[block.train_index]) | set(test_labels[block.test_index])
        assert len(labels) == 1
        assert block.infl.shape == (len(block.train_index), len(block.test_index))
        grid = np.ix_(block.train_index, block.test_index)
        np.testing.assert_allclose(block.infl, ref["est"][grid], rtol=0, atol=1e-6)
        np.testing.assert_allclose(block.infl_se, ref["se"][grid], rtol=0, atol=1e-6)
        seen[grid] = True
    np.testing.assert_array_equal(seen, train_labels[:, None] == test_labels[None, :])


def test_class_layout_groups_by_label() -> None:
    layout = class_layout(np.array([2, 0, 2, 1]), np.array([1, 1, 3]))
    assert layout.classes.tolist() == [0, 1, 2, 3]
    assert [layout.train_index(c).tolist() for c in range(4)] == [[1], [3], [0, 2], []]
    assert [layout.test_index(c).tolist() for c in range(4)] == [[], [0, 1], [], [2]]


def test_never_left_out_is_nan_with_warning() -> None:
    mask, train_correct, test_correct = random_trials(6)
    mask[:, 4] = True   # never out
    mask[:, 9] = False  # never in
    with pytest.warns(TooFewTrialsWarning, match="2 of them are never in or never out"):
        got = memorization(mask, train_correct)
    assert got.n_few >= 2
    assert np.isnan(got.mem[[4, 9]]).all() and np.isnan(got.mem_se[[4, 9]]).all()
    assert np.isfinite(np.delete(got.mem, [4, 9])).all()
    assert (got.n_out[4], got.n_in[9]) == (0, 0)
    infl, se = influence(mask, test_correct, block_size=4)
    assert np.isnan(infl[[4, 9]]).all() and np.isnan(se[[4, 9]]).all()
    assert np.isfinite(np.delete(infl, [4, 9], axis=0)).all()


def test_few_trials_warns_but_keeps_estimate() -> None:
    mask, train_correct, _ = random_trials(7, t=40)
    mask[:, 2] = True
    mask[:3, 2] = False  # out of only 3 trials
    with pytest.warns(TooFewTrialsWarning, match="fewer than 8 valid trials"):
        got = memorization(mask, train_correct, min_trials=8)
    assert got.n_out[2] == 3 and np.isfinite(got.mem[2])
    assert got.n_few == int(((got.n_in < 8) | (got.n_out < 8)).sum()) >= 1


def test_count_few_trials_threshold_is_configurable(recwarn: pytest.WarningsRecorder) -> None:
    n_in, n_out = np.array([10, 5, 20]), np.array([10, 20, 4])
    assert count_few_trials(n_in, n_out, min_trials=4) == 0
    assert not recwarn.list
    with pytest.warns(TooFewTrialsWarning):
        assert count_few_trials(n_in, n_out, min_trials=6) == 2


def test_all_correct_and_all_wrong_columns() -> None:
    mask, train_correct, test_correct = random_trials(8)
    train_correct[:, 0] = True
    train_correct[:, 1] = False
    test_correct[:, 0] = True
    test_correct[:, 1] = False
    got = memorization(mask, train_correct, min_trials=1)
    assert got.mem[0] == 0 and got.mem_se[0] == 0
    assert got.mem[1] == 0 and got.mem_se[1] == 0
    infl, se = influence(mask, test_correct)
    assert (infl[:, :2] == 0).all() and (se[:, :2] == 0).all()


def test_one_class_same_class_equals_full() -> None:
    mask, _, test_correct = random_trials(9)
    blocks = same_class_influence(mask, test_correct, np.full(23, 7), np.full(11, 7))
    infl, se = influence(mask, test_correct)
    assert len(blocks) == 1
    assert blocks[0].train_index.tolist() == list(range(23))
    np.testing.assert_array_equal(blocks[0].infl, infl)
    np.testing.assert_array_equal(blocks[0].infl_se, se)


def test_no_trials_gives_nan_not_a_crash() -> None:
    with pytest.warns(TooFewTrialsWarning):
        got = memorization(np.zeros((0, 3), bool), np.zeros((0, 3), bool))
    assert np.isnan(got.mem).all()
    infl, _ = influence(np.zeros((0, 3), bool), np.zeros((0, 2), bool))
    assert np.isnan(infl).all()


def test_proportion_difference_values() -> None:
    diff, se = proportion_difference(np.array([3, 0]), np.array([4, 0]), np.array([4, 2]), 6)
    assert diff[0] == pytest.approx(0.75 - 0.5)
    assert se[0] == pytest.approx(math.sqrt(0.75 * 0.25 / 4 + 0.5 * 0.5 / 2))
    assert np.isnan(diff[1]) and np.isnan(se[1])


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="same"):
        memorization(np.zeros((3, 4), bool), np.zeros((3, 5), bool))
    with pytest.raises(ValueError, match="n_test"):
        list(influence_blocks(np.zeros((3, 4), bool), np.zeros((2, 5), bool)))
