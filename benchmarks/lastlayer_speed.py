"""Speed-up of the last-layer-only estimator, measured side by side in one process.

Section 3: training only a linear classifier on the penultimate representation "reduces the
training time by a factor of 720" (ResNet50, CIFAR-100). ``tables/lastlayer`` reports the wall
times the workflow's jobs recorded, which on a shared machine depend on what else ran at the
time. This benchmark times, in one process, with the same threads and in alternating rounds
(keeping each side's best round):

* ``subset``: one group of the study's own models (its arch and recipe, trained the way the
  study trains them: ``train.ensemble_size`` models per group) on the study's subsets I_k,
* ``linear``: one group of linear models on the representations (``lastlayer.train``).

It needs ``results/{study}/data.h5`` and ``results/{study}/lastlayer/representations.h5`` (the
workflow's ``extract_representations`` output) and prints one JSON line.

    python benchmarks/lastlayer_speed.py --study fashion-mnist-mlp [--config config.yaml]
        [--workdir .] [--rounds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from longtail.config.bases import resolve_bases
from longtail.config.study import with_defaults
from longtail.data import load_study_data
from longtail.train.lastlayer import linear_trials, read_representations
from longtail.train.recipe import Recipe
from longtail.train.stages import training_data, trial_plan
from longtail.train.training import resolve_device, resolve_method, train_trials


def timed(train: Callable[[], object], seconds: list[float]) -> None:
    """Run ``train`` once and append its wall time."""
    began = time.perf_counter()
    train()
    seconds.append(time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True)
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--workdir", default=".")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for both sides (default: the study's train.threads)")
    args = parser.parse_args()

    config = yaml.safe_load(Path(args.config).read_text())
    resolve_bases(config)  # a study with `base:` as the workflow reads it
    study = with_defaults(config["studies"][args.study])
    results = Path(args.workdir) / "results" / args.study
    study_train = dict(study["train"])
    linear_train = with_defaults(config.get("lastlayer", {}).get("train", {}), "train")
    if args.threads is not None:
        study_train["threads"] = linear_train["threads"] = args.threads
    recipe, linear_recipe = Recipe.from_config(study_train), Recipe.from_config(linear_train)

    data = training_data(load_study_data(results / "data.h5"))
    reps = read_representations(results / "lastlayer" / "representations.h5")
    trials_subset = list(range(recipe.ensemble_size))
    trials_linear = list(range(linear_recipe.ensemble_size))
    seeds, masks = trial_plan(study, len(data.y_train), trials_subset)

    times: dict[str, list[float]] = {"subset": [], "linear": []}
    for _ in range(args.rounds):
        timed(lambda: train_trials(data, study["arch"], recipe, seeds, masks, progress=False),
              times["subset"])
        timed(lambda: linear_trials(reps, study, linear_recipe, trials_linear, progress=False),
              times["linear"])
    subset = min(times["subset"]) / len(trials_subset)
    linear = min(times["linear"]) / len(trials_linear)
    device = resolve_device(recipe.device)
    print(json.dumps({
        "study": args.study, "arch": study["arch"],
        "method": resolve_method(recipe, study["arch"], device), "device": device.type,
        "threads": recipe.threads, "subset_models": len(trials_subset),
        "linear_models": len(trials_linear), "representation_dim": int(reps.train.shape[1]),
        "seconds_per_subset_model": subset, "seconds_per_linear_model": linear,
        "speed_ratio": subset / linear, "rounds": args.rounds}))


if __name__ == "__main__":
    main()
