"""Models per hour of each paper-scale preset's recipe on the device at hand (GPU or CPU).

For every study in ``studies/*.yaml`` (or the files given), trains a few models with the
preset's architecture and recipe through the project's own training path
(``longtail.train.training.train_trials``) for a capped number of epochs on data of the preset's
shape, and extrapolates from the measured seconds per training step to the preset's full
recipe (epochs x ceil(m / batch)). GPU utilisation is sampled with nvidia-smi while training.
With ``--data results/<study>/data.h5`` the models train on that study's real data and their
test accuracy is reported (only meaningful with the full recipe, ``--epochs 0``).

Prints one JSON line per preset with ``preset``, ``device``, ``models_per_hour``,
``seconds_per_model``, ``gpu_utilisation``, ``test_accuracy`` (null on synthetic data) and the
measured and extrapolated quantities.

    python benchmarks/gpu_throughput.py [studies/cifar100-resnet9.yaml ...] [--epochs 1]
        [--models 2] [--max-train 10000] [--device cuda] [--data results/x/data.h5]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from longtail.config.bases import resolve_bases
from longtail.config.schema import schema_default
from longtail.config.study import subset_size, trial_seed, with_defaults
from longtail.data.datasets import REGISTRY
from longtail.train.recipe import Recipe, TrainingData
from longtail.train.training import subset_mask, train_trials

ROOT = Path(__file__).resolve().parents[1]


class UtilisationSampler:
    """Mean GPU utilisation (%) reported by nvidia-smi while the block runs; None without it."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval, self.samples = interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                  "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, check=False)
            if out.returncode == 0 and out.stdout.strip():
                self.samples.append(float(out.stdout.split()[0]))
            self._stop.wait(self.interval)

    def __enter__(self) -> UtilisationSampler:
        if shutil.which("nvidia-smi") and torch.cuda.is_available():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return round(float(np.mean(self.samples)), 1) if self.samples else None


def preset_data(study: dict, config: dict, max_train: int, data_path: str | None
                ) -> tuple[TrainingData, int]:
    """(training data, full-study n): the study's real data, or random data of its shape."""
    if data_path:
        from longtail.data import load_study_data
        from longtail.train.stages import training_data

        data = load_study_data(data_path)
        return training_data(data), len(data.y_train)
    dataset = study["dataset"]
    info = REGISTRY[dataset]
    shape = info.image_shape(config.get("data", {}).get("image_size",
                                                        schema_default("data", "image_size")))
    n_full = study.get("n_train") or info.n_train
    n = min(n_full, max_train)
    n_test = min(study.get("n_test") or info.n_test, max(n // 5, 1))
    rng = np.random.default_rng(0)
    classes = info.classes
    return TrainingData.from_arrays(
        rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, classes, n),
        rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        rng.integers(0, classes, n_test), classes), n_full


def measure(path: Path, args: argparse.Namespace) -> dict:
    config = yaml.safe_load(path.read_text())
    name = next(iter(config["studies"]))  # the preset's first study
    # A preset is used with config.yaml (`--configfile`), whose studies its `base` may name.
    root = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["studies"] = {**root["studies"], **config["studies"]}
    resolve_bases(config)
    study = with_defaults(config["studies"][name])
    full = Recipe.from_config(study["train"])
    device = torch.device(args.device)
    data, n_full = preset_data(study, config, args.max_train, args.data)
    n = len(data.y_train)
    epochs = args.epochs or full.epochs
    models = args.models or max(full.ensemble_size, 1)
    recipe = Recipe(**{**full.__dict__, "epochs": epochs, "device": device.type,
                       "ensemble_size": min(full.ensemble_size, models),
                       "threads": torch.get_num_threads()})
    m = subset_size(n, study["subset_ratio"])
    seeds = [trial_seed(0, k) for k in range(models)]
    masks = np.stack([subset_mask(n, m, s) for s in seeds])
    # Warm-up: kernels, cuDNN autotuning and torch.compile are paid once per job, not per step.
    warm = Recipe(**{**recipe.__dict__, "epochs": 1})
    train_trials(data, study["arch"], warm, seeds[: recipe.ensemble_size],
                 masks[: recipe.ensemble_size], progress=False)
    with UtilisationSampler() as sampler:
        began = time.perf_counter()
        result = train_trials(data, study["arch"], recipe, seeds, masks, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - began
    steps_measured = models * epochs * math.ceil(m / recipe.batch_size)
    m_full = subset_size(n_full, study["subset_ratio"])
    steps_full = full.epochs * math.ceil(m_full / full.batch_size)
    seconds_per_model = elapsed / steps_measured * steps_full
    return {
        "benchmark": "gpu_throughput", "preset": name, "file": str(path.relative_to(ROOT))
        if path.is_relative_to(ROOT) else str(path),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "arch": study["arch"], "dataset": study["dataset"],
        "models_measured": models, "epochs_measured": epochs, "n_measured": n,
        "seconds_per_step": round(elapsed / steps_measured, 5),
        "steps_per_model_full": steps_full,
        "seconds_per_model": round(seconds_per_model, 2),
        "models_per_hour": round(3600 / seconds_per_model, 2),
        "gpu_utilisation": sampler.mean,
        "test_accuracy": (round(float(result.test_accuracy.mean()), 4)
                          if args.data else None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("presets", nargs="*", type=Path,
                        default=sorted((ROOT / "studies").glob("*.yaml")))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=1, help="0 = the preset's full recipe")
    parser.add_argument("--models", type=int, default=0, help="0 = the preset's ensemble size")
    parser.add_argument("--max-train", type=int, default=10000,
                        help="synthetic training examples at most (timing is per step)")
    parser.add_argument("--data", help="a study's data.h5: train on real data, report accuracy")
    args = parser.parse_args()
    for path in args.presets:
        print(json.dumps(measure(Path(path).resolve(), args)), flush=True)


if __name__ == "__main__":
    main()
