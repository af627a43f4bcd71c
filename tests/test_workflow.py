"""End to end: the real Snakemake workflow on a tiny study of real Fashion-MNIST."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import yaml
from conftest import TINY, changed_config, planned_jobs, snakemake

from longtail.store.correctness import read_store

pytestmark = pytest.mark.e2e


def test_store_matches_the_contract(tiny_study):
    store = read_store(tiny_study / "results" / "tiny" / "correctness.h5")
    t, n, n_test = 32, 300, 100
    assert store.mask.shape == (t, n) and store.mask.dtype == bool
    assert store.train_correct.shape == (t, n) and store.test_correct.shape == (t, n_test)
    assert (store.mask.sum(axis=1) == 210).all()  # m = round(0.7 n)
    np.testing.assert_array_equal(store.trials.trial, np.arange(t))
    assert store.attrs["dataset"] == "fashion-mnist" and store.attrs["arch"] == "mlp"
    assert store.attrs["subset_size"] == 210
    assert not store.train_label_flipped.any()
    assert 0.5 < store.trials.test_accuracy.mean() < 1.0
    assert len(np.unique(store.train_source_index)) == n
    with h5py.File(tiny_study / "results" / "tiny" / "correctness.h5") as h5:
        assert h5["mask"].compression == "gzip" and h5["mask"].chunks is not None
    # Models fit their own subset better than examples they never saw.
    assert store.train_correct[store.mask].mean() > store.train_correct[~store.mask].mean()


def test_dataset_cache_built_offline_from_real_fashion_mnist(tiny_study):
    with h5py.File(tiny_study / "resources" / "fashion-mnist.h5") as h5:
        names = set(h5)
        assert any("image" in name for name in names)


def test_estimates_pairs_and_consistency(tiny_study):
    import pandas as pd

    from longtail.estimators.estimates import read_estimates

    results = tiny_study / "results" / "tiny"
    estimates = read_estimates(results / "estimates.h5")
    assert estimates.mem.shape == (300,) and np.isfinite(estimates.mem).all()
    assert (estimates.n_in + estimates.n_out == 32).all()
    pairs = pd.read_csv(results / "pairs.csv")
    assert list(pairs.columns) == ["train_index", "test_index", "label", "mem", "infl",
                                   "infl_se", "train_source_index", "test_source_index"]
    assert (pairs["mem"] >= 0.25).all() and (pairs["infl"] >= 0.15).all()
    summary = yaml.safe_load((results / "summary.json").read_text())
    assert summary["n_pairs"] == len(pairs)
    consistency = pd.read_csv(results / "consistency.csv")
    assert consistency["jaccard"].between(0, 1).all()


def test_second_run_has_nothing_to_do(tiny_study):
    proc = snakemake(tiny_study, TINY)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_changing_a_threshold_does_not_retrain(tiny_study, tmp_path):
    config = changed_config(tmp_path, "thr.yaml",
                            lambda c: c["thresholds"].update(mem=0.3, infl=0.2))
    jobs = planned_jobs(snakemake(tiny_study, config, "--dry-run"))
    assert jobs.get("select_high_influence_pairs") == 1
    assert "train_trial_shard" not in jobs and "make_study_data" not in jobs
    assert "estimate_memorization" not in jobs


def test_raising_trials_trains_only_new_shards(tiny_study, tmp_path):
    config = changed_config(tmp_path, "more.yaml",
                            lambda c: c["studies"]["tiny"].update(trials=48))
    proc = snakemake(tiny_study, config, "--dry-run")
    jobs = planned_jobs(proc)
    assert jobs.get("train_trial_shard") == 1
    assert "trials/32-48.h5" in proc.stdout + proc.stderr
    assert jobs.get("aggregate_correctness") == 1
