"""Agreement of estimates across models (Sec. C): statistics against scipy and hand values,
the common-trials comparison of stores, and the config's refusal of incomparable groups."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_config import checked, load
from test_estimates import make_store, write

from longtail.config.errors import ConfigError
from longtail.estimators.agreement import (
    STAT_COLUMNS,
    StoreTrials,
    agreement,
    common_trials,
    compare_group,
    compare_group_files,
    mem_correlation,
)
from longtail.estimators.reliability import memorized_table
from longtail.estimators.select import is_memorized, jaccard, pair_set
from longtail.reporting.comparison import make_arch_comparison, tabulate_comparisons
from longtail.store.correctness import CorrectnessStore, StoreError, TrialResults

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------- statistics

def test_mem_correlation_matches_scipy_on_defined_examples() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(50)
    b = a + rng.normal(0, 0.3, 50)
    a[3], b[7] = np.nan, np.nan
    both = np.isfinite(a) & np.isfinite(b)
    corr = mem_correlation(a, b)
    assert corr["n"] == 48
    assert corr["pearson"] == pytest.approx(stats.pearsonr(a[both], b[both]).statistic)
    assert corr["spearman"] == pytest.approx(stats.spearmanr(a[both], b[both]).statistic)


def test_mem_correlation_hand_values() -> None:
    # Spearman of a monotone but non-linear relation is exactly 1; Pearson is not.
    a = np.array([0.0, 0.1, 0.2, 0.9])
    corr = mem_correlation(a, a ** 3)
    assert corr["spearman"] == pytest.approx(1.0)
    assert corr["pearson"] < 0.99
    assert mem_correlation(a, -a)["pearson"] == pytest.approx(-1.0)
    assert np.isnan(mem_correlation(a, np.ones(4))["pearson"])  # a constant has no correlation
    with pytest.raises(ValueError, match="shape"):
        mem_correlation(a, a[:3])


def test_jaccard_hand_values() -> None:
    assert jaccard({1, 2, 3}, {2, 3, 4}) == pytest.approx(0.5)
    assert jaccard(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)) == \
        pytest.approx(1 / 3)
    assert jaccard({(0, 1)}, {(0, 1)}) == 1.0
    assert np.isnan(jaccard(set(), set()))
    assert jaccard(np.zeros(3, bool), np.array([1, 0, 0], bool)) == 0.0


def counts(mem: np.ndarray) -> SimpleNamespace:
    """Estimates-like mem with 20 trials in and 20 out (mem is a multiple of 1/400)."""
    return SimpleNamespace(mem=np.asarray(mem, np.float64), n_in=np.full(len(mem), 20),
                           n_out=np.full(len(mem), 20))


def test_memorized_never_selects_nan_and_is_inclusive() -> None:
    np.testing.assert_array_equal(is_memorized(counts([0.25, 0.2, np.nan, 1.0]), 0.25),
                                  [True, False, False, True])


def pairs(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["train_index", "test_index", "infl"])


def test_agreement_counts_and_jaccards() -> None:
    mem_a = np.array([0.9, 0.5, 0.1, 0.3, np.nan])
    mem_b = np.array([0.8, 0.1, 0.4, 0.3, 0.7])
    pairs_a = pairs([(0, 0, 0.5), (0, 1, 0.2), (3, 2, 0.12)])
    pairs_b = pairs([(0, 0, 0.3), (3, 2, 0.6), (4, 1, 0.9)])
    out = agreement(counts(mem_a), counts(mem_b), pairs_a, pairs_b, mem_threshold=0.25,
                    infl_threshold=0.15)
    assert (out["memorized_a"], out["memorized_b"], out["memorized_both"]) == (3, 4, 2)
    assert out["jaccard_memorized"] == pytest.approx(2 / 5)  # {0,1,3} vs {0,2,3,4}
    # (3, 2) has infl 0.12 < 0.15 in a: a = {(0,0),(0,1)}, b = {(0,0),(3,2),(4,1)}
    assert (out["pairs_a"], out["pairs_b"], out["pairs_both"]) == (2, 3, 1)
    assert out["jaccard_pairs"] == pytest.approx(1 / 4)
    assert out["n_both_defined"] == 4
    assert pair_set(pairs_a, 0.2) == {(0, 0), (0, 1)}


def test_memorized_curve_per_threshold() -> None:
    curve = memorized_table(counts([0.1, 0.5, 0.9]), counts([0.6, 0.5, 0.2]),
                            thresholds=[0.05, 0.4, 0.95])
    assert curve["size_a"].tolist() == [3, 2, 0]
    assert curve["size_b"].tolist() == [3, 2, 0]
    assert curve["intersection"].tolist() == [3, 1, 0]
    np.testing.assert_allclose(curve["jaccard"], [1.0, 1 / 3, np.nan])


# ----------------------------------------------------------------- stores

def variant(store: CorrectnessStore, t: int | None = None, seed: int | None = None,
            arch: str = "other", diverged: tuple[int, ...] = ()) -> CorrectnessStore:
    """Another architecture's store on the same data and subsets: the first ``t`` trials,
    with correctness redrawn from ``seed`` (or kept when seed is None)."""
    tr = store.trials
    t = len(tr.trial) if t is None else t
    keep = {name: getattr(tr, name)[:t] for name in ("trial", "trial_seed", "mask",
                                                     "train_correct", "test_correct")}
    if seed is not None:
        rng = np.random.default_rng(seed)
        keep["train_correct"] = rng.random(keep["mask"].shape) < np.where(keep["mask"], 0.9, 0.5)
        keep["test_correct"] = rng.random(keep["test_correct"].shape) < 0.6
    bad = np.zeros(t, bool)
    bad[list(diverged)] = True
    trials = TrialResults(**keep, test_accuracy=keep["test_correct"].mean(1),
                          wall_time=np.ones(t), diverged=bad)
    return dataclasses.replace(store, trials=trials, attrs={**store.attrs, "arch": arch})


def test_common_trials_are_shared_valid_ids_with_equal_subsets(tmp_path: Path) -> None:
    base = make_store(t=40, n=30, n_test=12)
    a = StoreTrials.read(write(tmp_path, base, "a.h5"))
    b = StoreTrials.read(write(tmp_path, variant(base, t=24, diverged=(5,)), "b.h5"))
    np.testing.assert_array_equal(common_trials({"a": a, "b": b}),
                                  [k for k in range(24) if k != 5])


def test_common_trials_refuse_other_subsets_or_data(tmp_path: Path) -> None:
    base = make_store(t=20, n=30, n_test=12)
    a = StoreTrials.read(write(tmp_path, base, "a.h5"))
    other = make_store(seed=1, t=20, n=30, n_test=12)
    shifted = dataclasses.replace(other, train_labels=base.train_labels,
                                  test_labels=base.test_labels)
    b = StoreTrials.read(write(tmp_path, shifted, "b.h5"))
    with pytest.raises(StoreError, match="different subsets"):
        common_trials({"a": a, "b": b})
    relabelled = dataclasses.replace(base, train_labels=(base.train_labels + 1) % 3)
    c = StoreTrials.read(write(tmp_path, relabelled, "c.h5"))
    with pytest.raises(StoreError, match="different data"):
        common_trials({"a": a, "c": c})


def test_identical_models_agree_perfectly_on_the_common_trials(tmp_path: Path) -> None:
    base = make_store(t=60, n=40, n_test=15)
    paths = {"a": write(tmp_path, base, "a.h5"),
             "b": write(tmp_path, variant(base, t=40), "b.h5")}  # b = a's first 40 trials
    table, curves, mem = compare_group("g", paths, mem_threshold=0.25, infl_threshold=0.15,
                                       min_trials=1)
    assert list(table.columns) == list(STAT_COLUMNS)
    assert table["comparison"].tolist() == ["same trials", "across halves", "within a",
                                            "within b"]
    same = table.iloc[0]
    assert same["trials_a"] == same["trials_b"] == 40 and same["same_subsets"]
    assert same["pearson"] == pytest.approx(1.0) and same["spearman"] == pytest.approx(1.0)
    assert same["memorized_a"] == same["memorized_b"] == same["memorized_both"] > 0
    assert same["jaccard_memorized"] == 1.0
    assert same["pairs_a"] == same["pairs_b"] == same["pairs_both"]
    # Halves: 20 trials each; a's and b's halves are the same trials, so across == within.
    across, within_a, within_b = (table.iloc[k] for k in (1, 2, 3))
    assert across["trials_a"] == 20 and not across["same_subsets"]
    assert across["pearson"] == pytest.approx(within_a["pearson"])
    assert within_a["pearson"] == pytest.approx(within_b["pearson"])
    assert within_a["pearson"] < 1.0
    np.testing.assert_array_equal(mem["mem_a"], mem["mem_b"])
    assert set(curves["selection"]) == {"memorized", "pairs"}
    assert (curves.loc[curves["comparison"] == "same trials", "jaccard"].dropna() == 1).all()


def test_independent_models_disagree(tmp_path: Path) -> None:
    base = make_store(t=80, n=200, n_test=10)
    paths = {"a": write(tmp_path, base, "a.h5"),
             "b": write(tmp_path, variant(base, seed=3), "b.h5")}
    table, _, _ = compare_group("g", paths, min_trials=1)
    same = table.iloc[0]
    assert abs(same["pearson"]) < 0.3  # b's mem does not depend on a's per-example rates
    assert same["arch_a"] == "none" and same["arch_b"] == "other"


def test_compare_group_files_and_table(tmp_path: Path) -> None:
    base = make_store(t=30, n=30, n_test=12)
    paths = {"a": write(tmp_path, base, "a.h5"), "b": write(tmp_path, variant(base), "b.h5")}
    out = [tmp_path / name for name in ("stats.csv", "curves.csv", "mem.csv")]
    compare_group_files("g", paths, *out, min_trials=1)
    table = tabulate_comparisons([out[0]], tmp_path / "t.csv", tmp_path / "t.md")
    assert len(table) == 4 and (tmp_path / "t.csv").exists()
    assert "| g | same trials | a | b | 30 |" in (tmp_path / "t.md").read_text()
    make_arch_comparison([out[0]], [out[1]], [out[2]], tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "f.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="at least two"):
        compare_group("g", {"a": paths["a"]})


# ----------------------------------------------------------------- configuration

@pytest.fixture
def two_archs() -> dict:
    config = load(ROOT / "tests" / "config" / "tiny.yaml")
    config["studies"]["tiny-cnn"] = {**copy.deepcopy(config["studies"]["tiny"]), "arch": "cnn"}
    config["compare"] = {"groups": {"archs": ["tiny", "tiny-cnn"]}}
    return config


def test_a_group_of_the_same_data_and_subsets_is_accepted(two_archs: dict) -> None:
    config = checked(two_archs)
    assert config["compare"]["groups"]["archs"] == ["tiny", "tiny-cnn"]
    # The recipe and trial count may differ: the comparison uses the common trials.
    two_archs["studies"]["tiny-cnn"]["trials"] = 48
    two_archs["studies"]["tiny-cnn"]["train"]["epochs"] = 2
    checked(two_archs)


@pytest.mark.parametrize("key, value", [("seed", 1), ("subset_ratio", 0.6), ("n_train", 200),
                                        ("n_test", 50), ("label_noise", 0.1),
                                        ("dataset", "mnist")])
def test_a_group_of_other_data_or_subsets_is_refused(two_archs: dict, key: str,
                                                     value: object) -> None:
    two_archs["studies"]["tiny-cnn"][key] = value
    with pytest.raises(ConfigError, match=rf"compare\.groups\.archs: .*differ in {key}"):
        checked(two_archs)


def test_unknown_studies_and_small_groups_are_refused(two_archs: dict) -> None:
    bad = copy.deepcopy(two_archs)
    bad["compare"]["groups"]["archs"] = ["tiny", "nope"]
    with pytest.raises(ConfigError, match=r"compare\.groups\.archs names study 'nope'"):
        checked(bad)
    bad = copy.deepcopy(two_archs)
    bad["compare"]["groups"]["archs"] = ["tiny"]
    with pytest.raises(ConfigError, match=r"compare\.groups\.archs"):
        checked(bad)
    bad = copy.deepcopy(two_archs)
    bad["lastlayer"] = {"studies": ["nope"]}
    with pytest.raises(ConfigError, match=r"lastlayer\.studies names study 'nope'"):
        checked(bad)
    bad = copy.deepcopy(two_archs)
    bad["lastlayer"] = {"studies": ["tiny"], "train": {"epochz": 3}}
    with pytest.raises(ConfigError, match=r"lastlayer\.train"):
        checked(bad)


def test_lastlayer_defaults_are_filled_in(two_archs: dict) -> None:
    two_archs.pop("lastlayer", None)
    assert checked(two_archs)["lastlayer"]["studies"] == []
    two_archs["lastlayer"] = {"studies": ["tiny-cnn"]}
    assert checked(two_archs)["lastlayer"]["train"]["schedule"] == "onecycle"
