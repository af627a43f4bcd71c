"""End to end: last-layer-only estimates of the tiny study (Section 3) and a cross-architecture
comparison with a tiny CNN study on the same data and subsets (Sec. C)."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, changed_config, planned_jobs, snakemake

from longtail.estimators.estimates import read_estimates
from longtail.store.correctness import read_store
from longtail.train.lastlayer import read_representations

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n"


def test_linear_models_train_on_the_studys_subsets(tiny_study: Path) -> None:
    results = tiny_study / "results" / "tiny"
    reps = read_representations(results / "lastlayer" / "representations.h5")
    assert reps.train.shape == (300, 256) and reps.test.shape == (100, 256)  # MLP's 256 units
    assert 0.5 < reps.attrs["test_accuracy"] <= 1.0
    linear = read_store(results / "lastlayer" / "correctness.h5")
    full = read_store(results / "correctness.h5")
    np.testing.assert_array_equal(linear.mask, full.mask)  # the same I_k, trial by trial
    np.testing.assert_array_equal(linear.trials.trial_seed, full.trials.trial_seed)
    np.testing.assert_array_equal(linear.train_source_index, full.train_source_index)
    assert linear.attrs["arch"] == "linear" and linear.attrs["representation_arch"] == "mlp"
    assert 0.5 < linear.trials.test_accuracy.mean() <= 1.0
    estimates = read_estimates(results / "lastlayer" / "estimates.h5")
    assert estimates.mem.shape == (300,) and (estimates.n_in + estimates.n_out == 32).all()


def test_lastlayer_table_and_figure(tiny_study: Path) -> None:
    results = tiny_study / "results" / "tiny"
    row = pd.read_csv(tiny_study / "tables" / "lastlayer.csv").iloc[0]
    assert row["study"] == "tiny" and row["trials"] == row["linear_trials"] == 32
    for side, directory in (("subset_models", results), ("linear_models",
                                                          results / "lastlayer")):
        summary = yaml.safe_load((directory / "summary.json").read_text())
        assert row[f"memorized_{side}"] == summary["n_memorized"]
        assert row[f"pairs_{side}"] == summary["n_pairs"] == len(
            pd.read_csv(directory / "pairs.csv"))
        store = read_store(directory / "correctness.h5")
        assert row[f"{side}_test_accuracy"] == pytest.approx(store.trials.test_accuracy.mean())
    wall = [read_store(d / "correctness.h5").trials.wall_time.mean()
            for d in (results, results / "lastlayer")]
    assert row["speed_ratio"] == pytest.approx(wall[0] / wall[1], rel=1e-4)
    assert row["memorized_both"] <= min(row["memorized_subset_models"],
                                        row["memorized_linear_models"])
    text = (tiny_study / "tables" / "lastlayer.md").read_text()
    assert "| examples with mem~ ≥ 0.25, linear models |" in text
    assert (tiny_study / "figures" / "figC3.pdf").read_bytes().startswith(b"%PDF")
    assert (tiny_study / "figures" / "figC3.png").read_bytes().startswith(PNG)


TARGETS = ("tables/arch_comparison.md", "figures/arch_comparison.pdf")


def add_cnn_study(config: dict) -> None:
    tiny = config["studies"]["tiny"]
    config["studies"]["tiny-cnn"] = {**tiny, "arch": "cnn", "trials_per_job": 32,
                                     "train": {**tiny["train"], "epochs": 2}}
    config["compare"] = {"groups": {"tiny-archs": ["tiny", "tiny-cnn"]}}


@pytest.fixture(scope="module")
def two_archs(tiny_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny study's work directory (its trials are reused, not retrained) in
    which a tiny CNN study on the same data and subsets was trained and compared."""
    workdir = tmp_path_factory.mktemp("archs") / "work"
    shutil.copytree(tiny_study, workdir, symlinks=True)
    config = changed_config(workdir, "archs.yaml", add_cnn_study)
    snakemake(workdir, config, *TARGETS)
    return workdir


def test_architectures_compared_on_their_common_trials(tiny_study: Path, two_archs: Path
                                                       ) -> None:
    # Only the CNN was trained: the MLP's shards are the tiny study's own, untouched.
    for shard in (tiny_study / "results" / "tiny" / "trials").glob("*.h5"):
        copy = two_archs / "results" / "tiny" / "trials" / shard.name
        assert copy.stat().st_mtime == shard.stat().st_mtime
    assert [p.name for p in (two_archs / "results" / "tiny-cnn" / "trials").glob("*.h5")] == \
        ["0-32.h5"]
    stats = pd.read_csv(two_archs / "results" / "compare" / "tiny-archs" / "stats.csv")
    assert stats["comparison"].tolist() == ["same trials", "across halves", "within tiny",
                                            "within tiny-cnn"]
    same = stats.iloc[0]
    assert (same["arch_a"], same["arch_b"]) == ("mlp", "cnn")
    assert same["trials_a"] == same["trials_b"] == 32 and same["same_subsets"]
    assert stats["trials_a"].iloc[1:].tolist() == [16, 16, 16]
    for column in ("pearson", "spearman"):
        assert stats[column].between(-1, 1).all()
    assert same["pearson"] > 0  # the same hard examples are memorized by both models
    mem = pd.read_csv(two_archs / "results" / "compare" / "tiny-archs" / "mem.csv")
    mlp = read_estimates(two_archs / "results" / "tiny" / "estimates.h5").mem
    np.testing.assert_allclose(mem["mem_tiny"], mlp, atol=1e-6)  # all 32 trials are common
    table = pd.read_csv(two_archs / "tables" / "arch_comparison.csv")
    assert len(table) == 4
    assert "| tiny-archs | same trials | tiny | tiny-cnn | 32 |" in \
        (two_archs / "tables" / "arch_comparison.md").read_text()
    assert (two_archs / "figures" / "arch_comparison.pdf").read_bytes().startswith(b"%PDF")
    assert (two_archs / "figures" / "arch_comparison.png").read_bytes().startswith(PNG)


def test_a_new_linear_recipe_retrains_only_the_linear_models(two_archs: Path) -> None:
    def edit(config: dict) -> None:
        add_cnn_study(config)
        config["lastlayer"]["train"]["epochs"] = 5

    config = changed_config(two_archs, "linear.yaml", edit)
    jobs = planned_jobs(snakemake(two_archs, config, *TARGETS, "tables/lastlayer.md",
                                  "--dry-run"))
    assert jobs.get("train_lastlayer_trials") == 1
    for rule in ("extract_representations", "train_trial_shard", "estimate_memorization",
                 "compare_architectures", "plot_arch_comparison"):
        assert rule not in jobs  # nor is the finished comparison redone


def test_side_by_side_speed_benchmark(tiny_study: Path, capsys: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "lastlayer_speed.py"
    monkeypatch.setattr("sys.argv", [str(script), "--study", "tiny", "--config", str(TINY),
                                     "--workdir", str(tiny_study), "--rounds", "1"])
    runpy.run_path(str(script), run_name="__main__")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["subset_models"], line["linear_models"]) == (16, 32)  # the two ensemble sizes
    assert line["method"] == "batched" and line["representation_dim"] == 256
    assert line["speed_ratio"] == pytest.approx(
        line["seconds_per_subset_model"] / line["seconds_per_linear_model"])
