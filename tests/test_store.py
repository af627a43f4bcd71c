"""The correctness store contract: round trips, atomic shards, refusals that name the file."""

import h5py
import numpy as np
import pytest

from longtail.store.correctness import (
    CorrectnessStore,
    StoreError,
    TrialResults,
    aggregate_shards,
    read_shard,
    read_store,
    shard_precision,
    write_shard,
    write_store,
)

ATTRS = {"dataset": "fashion-mnist", "arch": "mlp", "n": 6, "n_test": 4, "subset_size": 4,
         "fingerprint": "abc", "study_config": {"seed": 0}}


def trials(ids, n=6, n_test=4, seed=0) -> TrialResults:
    rng = np.random.default_rng(seed)
    t = len(ids)
    return TrialResults(trial=ids, trial_seed=np.arange(t) + 100, mask=rng.random((t, n)) < .7,
                        train_correct=rng.random((t, n)) < .8,
                        test_correct=rng.random((t, n_test)) < .6,
                        test_accuracy=rng.random(t), wall_time=np.ones(t),
                        diverged=np.zeros(t, bool))


def test_shard_round_trip(tmp_path):
    shard = trials([0, 1, 2])
    write_shard(tmp_path / "s.h5", shard, ATTRS)
    back, attrs = read_shard(tmp_path / "s.h5")
    for name in ("trial", "mask", "train_correct", "test_correct", "test_accuracy"):
        np.testing.assert_array_equal(getattr(back, name), getattr(shard, name))
    assert attrs["study_config"] == {"seed": 0} and attrs["complete"]
    assert not list(tmp_path.glob(".*tmp"))


def test_killed_writer_leaves_no_complete_looking_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("longtail.store.correctness.write_attrs", boom)
    with pytest.raises(KeyboardInterrupt):
        write_shard(tmp_path / "s.h5", trials([0]), ATTRS)
    assert list(tmp_path.iterdir()) == []


def test_aggregation_sorts_by_trial_and_refuses_duplicates(tmp_path):
    write_shard(tmp_path / "b.h5", trials([2, 3], seed=1), ATTRS)
    write_shard(tmp_path / "a.h5", trials([0, 1]), ATTRS)
    merged = aggregate_shards([tmp_path / "b.h5", tmp_path / "a.h5"], "abc")
    np.testing.assert_array_equal(merged.trial, [0, 1, 2, 3])
    write_shard(tmp_path / "c.h5", trials([1, 4]), ATTRS)
    with pytest.raises(StoreError, match=r"c\.h5: trial 1 is also in .*a\.h5"):
        aggregate_shards([tmp_path / "a.h5", tmp_path / "c.h5"], "abc")


def test_aggregation_refuses_a_shard_of_another_config(tmp_path):
    write_shard(tmp_path / "x.h5", trials([0]), {**ATTRS, "fingerprint": "other"})
    with pytest.raises(StoreError, match=r"x\.h5: shard belongs to another dataset/config"):
        aggregate_shards([tmp_path / "x.h5"], "abc")


def test_shards_of_mixed_precision_are_refused_by_name(tmp_path):
    write_shard(tmp_path / "a.h5", trials([0]), {**ATTRS, "precision": "bf16"})
    write_shard(tmp_path / "b.h5", trials([1]), {**ATTRS, "precision": "bf16"})
    write_shard(tmp_path / "old.h5", trials([2]), ATTRS)  # written before precision was recorded
    assert shard_precision([tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "old.h5"]) == "bf16"
    assert shard_precision([tmp_path / "old.h5"]) is None
    write_shard(tmp_path / "c.h5", trials([3]), {**ATTRS, "precision": "fp32"})
    with pytest.raises(StoreError, match=r"a\.h5 was trained in bf16 and .*c\.h5 in fp32"):
        shard_precision([tmp_path / "a.h5", tmp_path / "c.h5"])


def test_truncated_and_inconsistent_shards_are_refused(tmp_path):
    path = tmp_path / "s.h5"
    write_shard(path, trials([0, 1]), ATTRS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=r"s\.h5"):
        read_shard(path)
    write_shard(path, trials([0, 1]), {**ATTRS, "n": 7})
    with pytest.raises(StoreError, match=r"s\.h5: arrays cover n=6"):
        read_shard(path)
    with h5py.File(tmp_path / "raw.h5", "w") as h5:
        h5["mask"] = np.zeros((2, 6), bool)
    with pytest.raises(StoreError, match=r"raw\.h5: HDF5 file is incomplete"):
        read_shard(tmp_path / "raw.h5")


def test_store_round_trip_and_shape_checks(tmp_path):
    store = CorrectnessStore(trials=trials([0, 1, 2]), train_labels=np.arange(6) % 2,
                             test_labels=np.arange(4) % 2, train_source_index=np.arange(6) * 3,
                             test_source_index=np.arange(4) * 5,
                             train_label_flipped=np.zeros(6, bool), attrs=ATTRS)
    write_store(tmp_path / "c.h5", store)
    back = read_store(tmp_path / "c.h5")
    np.testing.assert_array_equal(back.mask, store.mask)
    np.testing.assert_array_equal(back.train_source_index, store.train_source_index)
    assert back.valid_trials.all()
    with h5py.File(tmp_path / "c.h5", "a") as h5:
        del h5["test_labels"]
        h5["test_labels"] = np.zeros(3, np.int64)
    with pytest.raises(StoreError, match=r"c\.h5: test_labels has shape \(3,\), expected \(4,\)"):
        read_store(tmp_path / "c.h5")


def test_trial_results_refuse_mismatched_shapes():
    good = trials([0, 1])
    with pytest.raises(StoreError, match="train_correct has shape"):
        TrialResults(**{**good.__dict__, "train_correct": good.train_correct[:, :3]})
