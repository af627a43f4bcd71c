"""estimates.h5: streaming estimation from a correctness store, the file layout and loaders."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from longtail.estimators import estimates as estimates_module
from longtail.estimators.algorithm1 import TooFewTrialsWarning, influence, memorization
from longtail.estimators.estimates import (
    EstimatesError,
    compute_estimates,
    estimate_store,
    iter_influence,
    load_influence,
    read_estimates,
)
from longtail.store.correctness import CorrectnessStore, StoreError, TrialResults, write_store


def make_store(seed: int = 0, t: int = 150, n: int = 40, n_test: int = 17, classes: int = 3,
               m: int | None = None, diverged: tuple[int, ...] = ()) -> CorrectnessStore:
    """A synthetic store: uniform size-m subsets, Bernoulli correctness with per-example rates
    and an in-subset boost; ``diverged`` trials hold garbage (all in, all correct)."""
    rng = np.random.default_rng(seed)
    m = round(0.7 * n) if m is None else m
    mask = np.zeros((t, n), bool)
    for k in range(t):
        mask[k, rng.choice(n, m, replace=False)] = True
    rate = rng.random(n)
    train_correct = rng.random((t, n)) < np.where(mask, 0.5 + rate / 2, rate)
    train_labels = rng.integers(0, classes, n)
    test_labels = rng.integers(0, classes, n_test)
    # test example j is helped by the first training example of its class
    helper = mask[:, np.array([np.flatnonzero(train_labels == y)[0] if (train_labels == y).any()
                               else 0 for y in test_labels])]
    test_correct = rng.random((t, n_test)) < np.where(helper, 0.8, 0.4)
    bad = np.zeros(t, bool)
    bad[list(diverged)] = True
    mask[bad], train_correct[bad], test_correct[bad] = True, True, True
    trials = TrialResults(trial=np.arange(t), trial_seed=np.arange(t) + 100, mask=mask,
                          train_correct=train_correct, test_correct=test_correct,
                          test_accuracy=test_correct.mean(axis=1), wall_time=np.ones(t),
                          diverged=bad)
    return CorrectnessStore(
        trials=trials, train_labels=train_labels, test_labels=test_labels,
        train_source_index=np.arange(n) * 3 + 1, test_source_index=np.arange(n_test) * 5 + 2,
        train_label_flipped=np.zeros(n, bool),
        attrs={"dataset": "synthetic", "arch": "none", "n": n, "n_test": n_test,
               "subset_size": m, "fingerprint": f"synthetic-{seed}"})


def write(tmp_path: Path, store: CorrectnessStore, name: str = "correctness.h5") -> Path:
    path = tmp_path / name
    write_store(path, store)
    return path


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read the store one HDF5 chunk of rows (64 trials) at a time."""
    monkeypatch.setattr(estimates_module, "TRIAL_BLOCK_BYTES", 1)


@pytest.mark.parametrize("block_size", [7, 2048])
def test_streamed_estimates_equal_in_memory_ones(tmp_path: Path, small_blocks: None,
                                                 block_size: int) -> None:
    store = make_store(diverged=(3, 70, 149))
    path = write(tmp_path, store)
    valid = ~store.trials.diverged
    mem = memorization(store.mask[valid], store.train_correct[valid])
    infl, infl_se = influence(store.mask[valid], store.test_correct[valid])
    for mode in ("same-class", "full"):
        out = tmp_path / f"{mode}.h5"
        attrs = estimate_store(path, out, influence=mode, block_size=block_size)
        assert attrs["n_excluded_trials"] == 3 and attrs["n_valid_trials"] == 147
        est = read_estimates(out)
        np.testing.assert_allclose(est.mem, mem.mem, atol=1e-12)
        np.testing.assert_allclose(est.mem_se, mem.mem_se, atol=1e-12)
        np.testing.assert_array_equal(est.n_in, mem.n_in)
        np.testing.assert_array_equal(est.n_out, mem.n_out)
        np.testing.assert_array_equal(est.train_labels, store.train_labels)
        np.testing.assert_array_equal(est.test_source_index, store.test_source_index)
        np.testing.assert_array_equal(est.excluded_trials, [3, 70, 149])
        assert est.attrs["fingerprint"] == "synthetic-0" and est.attrs["influence"] == mode
        grid = load_influence(out, np.arange(40), np.arange(17))
        grid_se = load_influence(out, np.arange(40), np.arange(17), se=True)
        same = store.train_labels[:, None] == store.test_labels[None, :]
        if mode == "full":
            np.testing.assert_allclose(grid, infl, atol=1e-6)
            np.testing.assert_allclose(grid_se, infl_se, atol=1e-6)
        else:
            np.testing.assert_allclose(grid[same], infl[same], atol=1e-6)
            np.testing.assert_allclose(grid_se[same], infl_se[same], atol=1e-6)
            assert np.isnan(grid[~same]).all() and np.isnan(grid_se[~same]).all()


def test_same_class_is_the_full_matrix_on_same_class_pairs(tmp_path: Path,
                                                           small_blocks: None) -> None:
    """Same-class influence (counts accumulated per class over blocks of trials) is, value for
    value, the full matrix restricted to pairs with y_i = y'_j: both are exact integer counts
    in float32 put through the same arithmetic."""
    store = make_store(seed=11, t=200, n=60, n_test=30, classes=9, diverged=(2, 100))
    path = write(tmp_path, store)
    same = store.train_labels[:, None] == store.test_labels[None, :]
    assert same.any() and (~same).any()
    grids = {}
    for mode in ("same-class", "full"):
        out = tmp_path / f"{mode}.h5"
        estimate_store(path, out, influence=mode, min_out_trials=1)
        grids[mode] = [load_influence(out, np.arange(60), np.arange(30), se=se)
                       for se in (False, True)]
    for got, full in zip(grids["same-class"], grids["full"], strict=True):
        np.testing.assert_array_equal(got[same], full[same])
        assert np.isnan(got[~same]).all() and np.isfinite(full).all()


def test_diverged_trials_are_excluded(tmp_path: Path) -> None:
    clean = make_store(seed=1, t=120)
    dirty = make_store(seed=1, t=120, diverged=(0, 5, 6))
    keep = np.setdiff1d(np.arange(120), [0, 5, 6])
    dirty_only_valid = CorrectnessStore(
        trials=TrialResults(**{name: getattr(clean.trials, name)[keep]
                               for name in ("trial", "trial_seed", "mask", "train_correct",
                                            "test_correct", "test_accuracy", "wall_time",
                                            "diverged")}),
        train_labels=clean.train_labels, test_labels=clean.test_labels,
        train_source_index=clean.train_source_index, test_source_index=clean.test_source_index,
        train_label_flipped=clean.train_label_flipped, attrs=clean.attrs)
    a, _ = compute_estimates(write(tmp_path, dirty, "dirty.h5"), influence="none")
    b, _ = compute_estimates(write(tmp_path, dirty_only_valid, "valid.h5"), influence="none")
    np.testing.assert_array_equal(a.mem, b.mem)
    assert (a.attrs["n_excluded_trials"], b.attrs["n_excluded_trials"]) == (3, 0)
    c, _ = compute_estimates(write(tmp_path, clean, "clean.h5"), influence="none")
    assert not np.allclose(a.mem, c.mem)  # the garbage in the diverged trials would matter


def test_trial_selection_restricts_trials(tmp_path: Path) -> None:
    store = make_store(seed=2, diverged=(1,))
    half = np.arange(150) % 2 == 0
    est, blocks = compute_estimates(write(tmp_path, store), trials=half, min_trials=1)
    use = half & ~store.trials.diverged
    assert est.attrs["n_valid_trials"] == int(use.sum()) == 75
    np.testing.assert_allclose(est.mem, memorization(store.mask[use],
                                                     store.train_correct[use]).mem)
    infl, _ = influence(store.mask[use], store.test_correct[use])
    for block in blocks:
        np.testing.assert_allclose(block.infl, infl[np.ix_(block.train_index,
                                                           block.test_index)], atol=1e-6)


def test_same_class_layout_on_disk(tmp_path: Path) -> None:
    store = make_store(seed=3, classes=4)
    out = tmp_path / "estimates.h5"
    estimate_store(write(tmp_path, store), out)
    with h5py.File(out, "r") as h5:
        assert "infl" not in h5
        assert h5.attrs["influence"] == "same-class"
        group = h5["infl_same_class"]
        labels = sorted(int(key) for key in group)
        assert labels == sorted(set(store.train_labels) | set(store.test_labels))
        for key in group:
            sub = group[key]
            assert sub.attrs["label"] == int(key)
            train_index, test_index = sub["train_index"][()], sub["test_index"][()]
            assert (store.train_labels[train_index] == int(key)).all()
            assert (store.test_labels[test_index] == int(key)).all()
            assert sub["infl"].shape == sub["infl_se"].shape == (len(train_index),
                                                                 len(test_index))
            assert sub["infl"].dtype == np.float32


def test_full_layout_is_chunked_float32(tmp_path: Path) -> None:
    out = tmp_path / "estimates.h5"
    estimate_store(write(tmp_path, make_store(seed=4)), out, influence="full", block_size=9)
    with h5py.File(out, "r") as h5:
        for name in ("infl", "infl_se"):
            assert h5[name].shape == (40, 17) and h5[name].dtype == np.float32
            assert h5[name].chunks is not None
        assert "infl_same_class" not in h5


def test_load_influence_pairwise_and_order(tmp_path: Path) -> None:
    store = make_store(seed=5)
    out_full, out_same = tmp_path / "full.h5", tmp_path / "same.h5"
    path = write(tmp_path, store)
    estimate_store(path, out_full, influence="full")
    estimate_store(path, out_same)
    full = load_influence(out_full, np.arange(40), np.arange(17))
    train, test = np.array([5, 0, 5, 39, 12]), np.array([16, 3, 0, 3, 8])
    np.testing.assert_array_equal(load_influence(out_full, train, test), full[np.ix_(train,
                                                                                     test)])
    np.testing.assert_array_equal(load_influence(out_full, train, test, pairwise=True),
                                  full[train, test])
    same = store.train_labels[train] == store.test_labels[test]
    got = load_influence(out_same, train, test, pairwise=True)
    np.testing.assert_allclose(got[same], full[train, test][same], atol=1e-6)
    assert np.isnan(got[~same]).all()
    assert load_influence(out_same, [], [1, 2]).shape == (0, 2)
    with pytest.raises(IndexError):
        load_influence(out_same, [40], [0])
    with pytest.raises(ValueError, match="pairwise"):
        load_influence(out_same, [1, 2], [0], pairwise=True)


def test_iter_influence_restricts_rows(tmp_path: Path) -> None:
    out = tmp_path / "full.h5"
    estimate_store(write(tmp_path, make_store(seed=6)), out, influence="full")
    rows = np.array([3, 17, 18, 39])
    blocks = list(iter_influence(out, train_rows=rows, block_size=16))
    assert [b.train_index.tolist() for b in blocks] == [[3], [17, 18], [39]]
    full = load_influence(out, np.arange(40), np.arange(17))
    np.testing.assert_array_equal(np.concatenate([b.infl for b in blocks]), full[rows])


def test_influence_none_writes_only_mem(tmp_path: Path) -> None:
    out = tmp_path / "mem.h5"
    estimate_store(write(tmp_path, make_store(seed=7)), out, influence="none")
    est = read_estimates(out)
    assert est.attrs["influence"] == "none" and len(est.mem) == 40
    assert list(iter_influence(out)) == []
    with pytest.raises(EstimatesError, match="no influence"):
        load_influence(out, [0], [0])


def test_never_left_out_example_is_nan_and_counted(tmp_path: Path) -> None:
    store = make_store(seed=8, t=64)
    store.trials.mask[:, 11] = True
    out = tmp_path / "estimates.h5"
    with pytest.warns(TooFewTrialsWarning, match="never in or never out"):
        attrs = estimate_store(write(tmp_path, store), out, min_out_trials=8)
    est = read_estimates(out)
    assert np.isnan(est.mem[11]) and est.n_out[11] == 0
    assert attrs["n_few_trials"] >= 1 and est.attrs["n_few_trials"] == attrs["n_few_trials"]
    assert np.isnan(load_influence(out, [11], np.arange(17))).all()


def test_all_trials_diverged(tmp_path: Path) -> None:
    store = make_store(seed=9, t=10, diverged=tuple(range(10)))
    with pytest.warns(TooFewTrialsWarning):
        est, blocks = compute_estimates(write(tmp_path, store))
    assert est.attrs["n_valid_trials"] == 0 and np.isnan(est.mem).all()
    assert all(np.isnan(b.infl).all() for b in blocks)


def test_unreadable_and_malformed_stores(tmp_path: Path) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(StoreError, match="junk.h5"):
        compute_estimates(junk)
    with pytest.raises(StoreError, match="missing.h5"):
        compute_estimates(tmp_path / "missing.h5")
    path = write(tmp_path, make_store(seed=10))
    with h5py.File(path, "a") as h5:
        del h5["test_labels"]
        h5["test_labels"] = np.zeros(3, np.int64)
    with pytest.raises(StoreError, match="test_labels has shape"):
        compute_estimates(path)
    with h5py.File(path, "a") as h5:
        del h5["train_correct"]
    with pytest.raises(StoreError, match="missing datasets"):
        compute_estimates(path)
    with pytest.raises(ValueError, match="influence"):
        compute_estimates(path, influence="pairs")


def test_output_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, make_store(seed=11))
    out = tmp_path / "estimates.h5"

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(estimates_module, "_write_full", broken)
    with pytest.raises(RuntimeError):
        estimate_store(path, out, influence="full")
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_read_estimates_rejects_other_files(tmp_path: Path) -> None:
    store_path = write(tmp_path, make_store(seed=12))
    with pytest.raises(EstimatesError, match="missing dataset 'mem'"):
        read_estimates(store_path)
