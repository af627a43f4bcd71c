"""The benchmarks run (tiny settings, CPU) and print their JSON contract; numbers are theirs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_json(*args: str) -> list[dict]:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_train_throughput_prints_speedup_and_gemm_fraction():
    # A bf16 recipe, so every side runs: chosen (bf16), fp32, tight loop, project loop, both
    # GEMM peaks and two parallel worker processes against one two-thread process.
    (line,) = run_json("benchmarks/train_throughput.py", "--study", "fashion-mnist-mlp",
                       "--arch", "mlp-64-32", "--precision", "bf16", "--batch-size", "64",
                       "--epochs", "1", "--models", "2", "--loop-models", "1", "--n", "600",
                       "--threads", "1", "--rounds", "1", "--jobs", "2", "--baseline", "src")
    rates = ["chosen_models_per_s", "fp32_models_per_s", "tight_loop_models_per_s",
             "project_loop_models_per_s", "parallel_jobs_models_per_s",
             "one_process_models_per_s"]
    assert {"benchmark", "device", "threads", "method", "models", "epochs", "rounds",
            "chosen_gflops", "tight_loop_gflops", "gemm_gflops", "bf16_gemm_gflops", "speedup",
            "bf16_speedup_over_fp32", "gemm_fraction", "gemm_fraction_same_precision",
            *rates} <= set(line)
    assert (line["arch"], line["precision"], line["batch_size"], line["method"]) == (
        "mlp-64-32", "bf16", 64, "batched")
    assert (line["models"], line["epochs"], line["threads"], line["jobs"]) == (2, 1, 1, 2)
    assert isinstance(line["bf16_native"], bool)
    # --baseline: this checkout's own trainer in a worker process, timed in the same rounds
    assert line["baseline"] == "src" and line["baseline_models_per_s"] > 0
    assert line["speedup_over_baseline"] == pytest.approx(
        line["chosen_models_per_s"] / line["baseline_models_per_s"], rel=0.01)
    assert (line["n"], line["m"]) == (600, 420)
    assert all(line[key] > 0 for key in rates)
    assert line["gemm_gflops"] > 0 and line["bf16_gemm_gflops"] > 0
    assert line["speedup"] > 0 and 0 < line["gemm_fraction"] < 2
    assert line["gemm_fraction_same_precision"] == pytest.approx(
        line["chosen_gflops"] / line["bf16_gemm_gflops"], abs=2e-3)
    # FLOPs from the arch's real widths, 784-64-32-10: a training step 2+2 MAC per layer and 2
    # more for every input gradient but the first layer's; evaluation of n = 600 and the test
    # examples in the study's proportion (config.yaml's default: n_test / n_train).
    study = yaml.safe_load((ROOT / "config.yaml").read_text())["studies"]["fashion-mnist-mlp"]
    n_test = round(600 * study["n_test"] / study["n_train"])
    macs = [784 * 64, 64 * 32, 32 * 10]
    flops = 420 * (4 * sum(macs) + 2 * sum(macs[1:])) + (600 + n_test) * 2 * sum(macs)
    assert line["chosen_gflops"] / line["chosen_models_per_s"] == pytest.approx(
        flops / 1e9, rel=0.03)


def test_gpu_throughput_runs_the_cuda_path_code_on_cpu():
    lines = run_json("benchmarks/gpu_throughput.py", "studies/mnist-mlp.yaml",
                     "studies/cifar100-resnet9.yaml", "--device", "cpu", "--max-train", "40",
                     "--models", "2", "--epochs", "1")
    assert [line["preset"] for line in lines] == ["mnist-mlp", "cifar100-resnet9"]
    for line in lines:
        assert line["models_per_hour"] > 0 and line["device"] == "cpu"
        assert line["gpu_utilisation"] is None and line["test_accuracy"] is None
    # Extrapolation to the preset's full recipe: 20 epochs of ceil(42000 / 128) steps.
    assert lines[0]["steps_per_model_full"] == 20 * 329


def test_recipe_frontier_reports_fit_and_cost_per_point(tmp_path):
    import numpy as np

    sys.path.insert(0, str(ROOT / "tests"))
    import fabricate as fab

    from longtail.data.study_data import make_study_data

    fab.synthetic_cache(tmp_path / "cache.h5", np.arange(80) % 4, np.arange(20) % 4,
                        num_classes=4)
    make_study_data(tmp_path / "cache.h5", tmp_path / "data.h5", n_train=60, n_test=20,
                    label_noise=0.1, seed=0)
    lines = run_json("benchmarks/recipe_frontier.py", "--data", str(tmp_path / "data.h5"),
                     "--models", "2")
    assert [(line["arch"], line["precision"]) for line in lines] == [
        ("mlp", "fp32"), ("mlp-384-192", "bf16")]
    for line in lines:
        assert 0 <= line["worst_fit"] <= line["fit"] <= 1 and 0 <= line["test"] <= 1
        assert line["fit_flipped"] is not None and line["s_per_model"] > 0
        assert abs(line["minutes_t1024"] - 1024 * line["s_per_model"] / 2 / 60) <= 0.06


def test_step_profile_splits_a_step_into_its_parts():
    # the shapes of mlp-384-192 (the noise study's): GEMMs large enough that their parts, timed
    # apart, add up to no more than the step
    (line,) = run_json("benchmarks/step_profile.py", "--study", "fashion-mnist-mlp-noise",
                       "--models", "2", "--epochs", "1", "--precision", "fp32", "--repeats", "1")
    assert (line["arch"], line["precision"], line["models"]) == ("mlp-384-192", "fp32", 2)
    parts = [key for key in line if key.endswith("_ms") and key not in (
        "step_ms", "gemm_ms", "gemm_floor_ms")]
    assert {"gemm_forward_ms", "gemm_weight_grad_ms", "gemm_input_grad_ms", "gather_ms",
            "relu_grad_ms", "update_ms", "python_ms"} <= set(parts)
    assert all(line[key] >= 0 for key in parts) and line["gemm_floor_ms"] > 0
    assert line["gemm_ms"] == pytest.approx(line["gemm_forward_ms"] + line["gemm_weight_grad_ms"]
                                            + line["gemm_input_grad_ms"], abs=0.02)
    assert 0 < line["gemm_share"] <= 1.05


def test_estimate_scale_prints_floors_peer_and_targets():
    (line,) = run_json("benchmarks/estimate_scale.py", "--t", "64", "--n", "300", "--n-test",
                       "60", "--classes", "5")
    published = {"t", "n", "n_test", "classes", "cpus", "repeat", "build_s", "store_gb",
                 "io_floor_s", "io_floor_peak_gb", "same_class_s", "same_class_peak_gb",
                 "full_s", "full_peak_gb", "gemm_floor_s", "gemm_floor_peak_gb",
                 "same_class_gb", "same_class_over_io", "full_gb", "full_over_gemm", "targets"}
    added = {"peer_s", "peer_peak_gb", "full_over_peer", "full_over_peer_cpu", "io_floor_cpu_s",
             "same_class_cpu_s", "full_cpu_s", "peer_cpu_s", "gemm_floor_cpu_s"}
    assert published | added <= set(line)
    assert set(line["targets"]) == {"same_class_le_2x_io", "same_class_peak_lt_4gb",
                                    "same_class_le_1_5x_io", "full_le_2x_gemm",
                                    "full_le_1_7x_gemm", "full_le_1x_peer"}
    # the ratio is of the unrounded times; the printed times are rounded to the millisecond
    assert line["full_over_peer"] == pytest.approx(line["full_s"] / line["peer_s"], rel=0.05)
    assert all(line[f"{key}_s"] > 0 for key in ("io_floor", "same_class", "full", "peer"))


def test_the_authors_formulation_agrees_with_algorithm1():
    """The peer the benchmark times computes the same estimates (to float32 rounding)."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from estimate_scale import authors_estimates

    from longtail.estimators.algorithm1 import influence, memorization

    rng = np.random.default_rng(0)
    mask, train, test = (rng.random((40, k)) < 0.6 for k in (12, 12, 7))
    mem, infl = authors_estimates(mask, train, test)
    np.testing.assert_allclose(mem, memorization(mask, train, min_trials=1).mem, atol=1e-6)
    np.testing.assert_allclose(infl.T, influence(mask, test)[0], atol=1e-6)


FRONTIER_KEYS = {
    "benchmark", "candidate", "base", "changes", "cpu", "cores", "jobs", "dataset", "arch",
    "n_train", "n_test", "epochs", "batch_size", "lr", "schedule", "source", "derived_from",
    "shards", "shards_trained", "run_minutes", "precision", "m", "trials", "valid_trials",
    "s_per_model", "minutes_t1024", "train_minutes", "fit", "worst_fit", "held_out", "test",
    "mem_threshold", "memorized", "memorized_per_half", "memorized_jaccard",
    "memorized_jaccard_std", "pairs", "target", "min_pairs", "splits", "reach",
    "analysis_seconds", "headline"}


@pytest.mark.e2e
def test_evidence_frontier_trains_by_the_workflow_derives_n_test_and_reuses_shards(tmp_path):

    # A tiny study of the whole test split, and its twin with n_test 100: the twin is read from
    # the first's trials (training never sees the test set), not trained.
    candidates = tmp_path / "candidates.yaml"
    candidates.write_text(yaml.safe_dump({"candidates": {
        "tiny": {"base": "fashion-mnist-mlp", "arch": "mlp-64-32", "n_train": 300,
                 "n_test": None, "trials_per_job": 16, "train": {"epochs": 2, "batch_size": 64}},
        "tiny-test-100": {"base": "tiny", "n_test": 100}}}))
    table = tmp_path / "frontier.md"
    args = ("benchmarks/evidence_frontier.py", "--workdir", str(tmp_path / "work"),
            "--candidates", str(candidates), "--trials", "32", "--smoke", "--markdown", str(table))
    first = run_json(*args)
    shards = sorted((tmp_path / "work" / "results" / "tiny" / "trials").glob("*.h5"))
    written = [path.stat().st_mtime_ns for path in shards]
    again = run_json(*args)

    assert [row["candidate"] for row in first] == ["tiny", "tiny-test-100"]
    trained, derived = first
    for row in first:
        assert set(row) == FRONTIER_KEYS and row["benchmark"] == "evidence_frontier"
        assert (row["trials"], row["valid_trials"], row["m"], row["jobs"]) == (32, 32, 210, 2)
        assert set(row["pairs"]) == {"0.15", "0.20", "0.25"} and set(row["reach"]) == {
            "0.15", "0.20"}
        assert all(set(p) == {"count", "per_half", "jaccard", "jaccard_std"}
                   for p in row["pairs"].values())
        assert all(r["how"] in ("measured", "forecast", "cannot tell")
                   for r in row["reach"].values())
        assert row["headline"]["how"] in ("measured", "forecast", "cannot tell")
        assert 0 < row["worst_fit"] <= row["fit"] <= 1 and 0 < row["test"] <= 1
        assert row["minutes_t1024"] == pytest.approx(1024 * row["s_per_model"] / 2 / 60,
                                                     abs=0.06)
        assert row["cpu"] and row["memorized"] >= 0
    assert (trained["source"], trained["shards"], trained["shards_trained"]) == ("trained", 2, 2)
    assert trained["changes"] == {"arch": "mlp-64-32", "n_train": 300, "n_test": None,
                                  "trials_per_job": 16, "train.epochs": 2,
                                  "train.batch_size": 64}
    # the derived row: the same trials (fit, memorized set, cost), its own 100 test examples
    assert (derived["source"], derived["derived_from"], derived["n_test"]) == (
        "derived", "tiny", 100)
    for key in ("fit", "worst_fit", "memorized", "memorized_jaccard", "s_per_model"):
        assert derived[key] == trained[key]
    assert all(derived["pairs"][k]["count"] < trained["pairs"][k]["count"]
               for k in derived["pairs"])
    # a rerun trains nothing and gives the same rows
    assert [path.stat().st_mtime_ns for path in shards] == written
    assert again[0]["shards_trained"] == 0
    volatile = {"run_minutes", "shards_trained", "analysis_seconds"}
    assert [{k: v for k, v in row.items() if k not in volatile} for row in again] == [
        {k: v for k, v in row.items() if k not in volatile} for row in first]
    lines = table.read_text().splitlines()
    assert lines[0].startswith(f"CPU: {trained['cpu']}") and len(lines) == 6
    assert "family" in trained["cpu"] and "bf16" in trained["cpu"]
    assert lines[5].startswith("| tiny-test-100 | tiny + n_test: 100 (from tiny's trials) |")
    assert "(from tiny's trials)" in lines[5]
    # t below 1,024 only for smoke runs
    proc = subprocess.run([sys.executable, *args[:-3]], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode != 0 and "--trials must be >= 1024" in proc.stderr


def test_evidence_frontier_reads_the_crossing_or_forecasts_it():
    import pandas as pd

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from evidence_frontier import headline, reach

    def curve(jaccards, pairs=40.0):
        t = [128 * (k + 1) for k in range(len(jaccards))]
        return pd.DataFrame({"t": t, "jaccard": jaccards, "jaccard_std": 0.02,
                             "jaccard_splits": 10, "size_a": pairs, "size_b": pairs})

    def minutes(count):
        return None if count is None else count * 0.6 / 2 / 60

    rising = curve([0.3, 0.45, 0.55, 0.62, 0.66, 0.71, 0.74, 0.76])
    measured = reach(rising, rising[rising["t"].isin([128, 256, 512, 1024])], 0.15, 0.25, 0.7,
                     20, minutes)
    assert (measured["how"], measured["low"], measured["trials"]) == ("measured", 641, 768)
    assert measured["minutes"] == pytest.approx(768 * 0.6 / 2 / 60)
    # too few pairs a half where the Jaccard is reached: not measured there
    assert reach(curve([0.3, 0.45, 0.55, 0.62, 0.66, 0.71, 0.74, 0.76], pairs=10.0),
                 rising.iloc[[0, 1, 3, 7]], 0.15, 0.25, 0.7, 20, minutes)["how"] != "measured"
    slow = curve([0.2, 0.3, 0.38, 0.44, 0.48, 0.52, 0.55, 0.58])
    ahead = reach(slow, slow[slow["t"].isin([128, 256, 512, 1024])], 0.20, 0.25, 0.7, 20,
                  minutes)
    assert ahead["how"] == "forecast" and ahead["trials"] > 1024
    assert ahead["low"] <= ahead["trials"] <= ahead["high"]
    top = headline({"reach": {"0.15": ahead, "0.20": measured}})
    assert (top["how"], top["infl"], top["trials"]) == ("measured", 0.2, 768)
    nothing = {"how": "cannot tell", "trials": None, "low": None, "high": None,
               "minutes": None, "minutes_low": None, "minutes_high": None, "reason": "x"}
    assert headline({"reach": {"0.15": nothing, "0.20": nothing}})["how"] == "cannot tell"
