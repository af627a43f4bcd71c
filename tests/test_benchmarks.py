"""The benchmarks run (tiny settings, CPU) and print their JSON contract; numbers are theirs."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_json(*args: str) -> list[dict]:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_train_throughput_prints_speedup_and_gemm_fraction():
    (line,) = run_json("benchmarks/train_throughput.py", "--epochs", "1", "--models", "2",
                       "--loop-models", "1", "--n", "600", "--threads", "1",
                       "--rounds", "1")
    assert {"speedup", "gemm_fraction", "chosen_models_per_s", "tight_loop_models_per_s",
            "gemm_gflops"} <= set(line)
    assert line["speedup"] > 0 and 0 < line["gemm_fraction"] < 2


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

    from longtail.data.study import make_study_data

    fab.synthetic_cache(tmp_path / "cache.h5", np.arange(80) % 4, np.arange(20) % 4,
                        num_classes=4)
    make_study_data(tmp_path / "cache.h5", tmp_path / "data.h5", n_train=60, n_test=20,
                    label_noise=0.1, seed=0)
    lines = run_json("benchmarks/recipe_frontier.py", "--data", str(tmp_path / "data.h5"),
                     "--models", "2")
    assert [(line["arch"], line["precision"]) for line in lines] == [
        ("mlp", "fp32"), ("mlp-384-192", "bf16")]
    for line in lines:
        assert 0 <= line["fit"] <= 1 and 0 <= line["test"] <= 1
        assert line["fit_flipped"] is not None and line["s_per_model"] > 0
        assert abs(line["minutes_t1024"] - 1024 * line["s_per_model"] / 2 / 60) <= 0.06
