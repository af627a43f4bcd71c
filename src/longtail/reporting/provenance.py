"""What was run for a study, in numbers and in words: the figure titles and report captions say
which data, model, t and m (Algorithm 1) a result comes from and how accurate its models were.

``results/{study}/about.json`` holds the numbers; ``about.rst`` the same as one reStructuredText
paragraph, included by the report captions (``report/*.rst``). A study whose estimates were
imported from the authors' released file (:mod:`longtail.estimators.released`) is described by
:func:`write_released_about`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from longtail.config.study import subset_size
from longtail.data.datasets import REGISTRY
from longtail.data.noise_models import describe_noise, noise_rate
from longtail.estimators.algorithm1 import mem_counts
from longtail.estimators.estimates import FIT_PREMISE, Estimates, fit_summary, read_estimates
from longtail.store.correctness import StoreReader
from longtail.store.io import write_json, write_text

DATASET_NAMES = {name: dataset.title for name, dataset in REGISTRY.items()}
ARCH_NAMES = {"mlp": "MLP", "cnn": "CNN", "resnet9": "ResNet-9", "resnet18": "ResNet-18",
              "resnet50": "ResNet50", "inception": "Inception", "linear": "linear"}


def describe_study(store_path: str | os.PathLike, name: str, study: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """The study's configuration with the accuracies of its t subset-trained models: test
    accuracy (mean, std over valid trials) and the fit on each model's own subset S_{I_k}."""
    with StoreReader(store_path) as store:
        valid = ~store.array("diverged")
        accuracy = store.array("test_accuracy")[valid]
        attrs = store.attrs
        flipped = store.array("train_label_flipped").astype(bool)
        hits_in, n_in, hits = (np.zeros(store.n, np.int64) for _ in range(3))
        test_hits = np.zeros(store.n_test, np.int64)
        rows = max(store.chunk_rows, 1)
        for start in range(0, store.t, rows):
            block = slice(start, min(start + rows, store.t))
            keep = valid[block]
            counts = mem_counts(store.array("mask", block)[keep],
                                store.array("train_correct", block)[keep])
            for total, part in zip((hits_in, n_in, hits), counts, strict=True):
                total += part
            test_hits += store.array("test_correct", block)[keep].sum(axis=0)
        fit = fit_summary(hits_in, n_in, hits, int(valid.sum()), test_hits, flipped,
                          store.array("subset_accuracy")[valid] if store.has("subset_accuracy")
                          else np.full(int(valid.sum()), np.nan))
    train = study["train"]
    return {
        "study": name, "dataset": study["dataset"], "arch": study["arch"],
        "n": int(attrs["n"]), "n_test": int(attrs["n_test"]), "trials": int(store.t),
        "valid_trials": int(valid.sum()), "m": int(attrs["subset_size"]),
        "subset_ratio": float(study["subset_ratio"]),
        "label_noise": noise_rate(study["label_noise"]),
        "noise_model": describe_noise(study["label_noise"]), "seed": int(study["seed"]),
        "train": {key: train[key] for key in ("epochs", "batch_size", "lr", "momentum",
                                              "weight_decay", "schedule") if key in train},
        "test_accuracy_mean": float(accuracy.mean()) if len(accuracy) else float("nan"),
        "test_accuracy_std": float(accuracy.std(ddof=1)) if len(accuracy) > 1 else float("nan"),
        "subset_fit": fit["fit"],
        "subset_fit_flipped": None if np.isnan(fit["fit_flipped"]) else fit["fit_flipped"],
        "subset_fit_min_trial": fit["fit_min_trial"],
    }


def short_title(about: Mapping[str, Any]) -> str:
    """One line for a figure panel: study, data, model, n, t, m and test accuracy."""
    dataset = DATASET_NAMES.get(about["dataset"], about["dataset"])
    noise = f", {about['label_noise']:.0%} labels flipped" if about["label_noise"] else ""
    model = ARCH_NAMES.get(about["arch"], about["arch"])
    return (f"{about['study']}: {dataset}{noise}, {model}, n = {about['n']:,}, "
            f"t = {about['trials']}, m = {about['m']:,}, "
            f"test acc. {100 * about['test_accuracy_mean']:.1f}%")


def about_rst(about: Mapping[str, Any]) -> str:
    """A reStructuredText paragraph that says what was run (for the report captions)."""
    dataset = DATASET_NAMES.get(about["dataset"], about["dataset"])
    train = about["train"]
    recipe = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in train.items())
    model = about.get("noise_model", "")
    noise = ("" if not about["label_noise"] else f" with label noise: {model}"
             if model and not model.endswith("symmetric")
             else f" with {about['label_noise']:.0%} of the training labels flipped at random")
    std = about["test_accuracy_std"]
    spread = "" if np.isnan(std) else f" +- {100 * std:.1f}"
    return (f"**{about['study']}**: {dataset}, {about['n']:,} training and {about['n_test']:,} "
            f"test examples{noise}; model {ARCH_NAMES.get(about['arch'], about['arch'])}; "
            f"t = {about['trials']} models "
            f"({about['valid_trials']} valid), each trained on a random subset of m = "
            f"{about['m']:,} examples ({recipe}; seed {about['seed']}). Their test accuracy is "
            f"{100 * about['test_accuracy_mean']:.1f}{spread}% (mean +- std over the models) and "
            f"they fit {100 * about['subset_fit']:.1f}% of their own training subsets"
            f"{_flipped_fit(about)}.{_fit_warning(about)}\n")


def _flipped_fit(about: Mapping[str, Any]) -> str:
    fit = about.get("subset_fit_flipped")
    return "" if fit is None else f" ({100 * fit:.1f}% of the flipped labels in them)"


def _fit_warning(about: Mapping[str, Any]) -> str:
    """Section 1's premise in words when the models do not fit their data."""
    if not about["subset_fit"] < FIT_PREMISE:
        return ""
    return (f" **Warning**: the paper's premise is that standard training fits 95-100% of the "
            f"training set; these models fit {100 * about['subset_fit']:.1f}%, so examples they "
            f"do not fit get memorization estimates near 0.")


def write_about(store_path: str | os.PathLike, name: str, study: Mapping[str, Any],
                out_json: str | os.PathLike, out_rst: str | os.PathLike) -> dict[str, Any]:
    """Describe a study and write ``about.json`` and ``about.rst`` atomically."""
    about = describe_study(store_path, name, study)
    write_json(out_json, about)
    write_text(out_rst, about_rst(about))
    return about


def released_about(estimates: Estimates, path: str | os.PathLike, name: str,
                   study: Mapping[str, Any]) -> dict[str, Any]:
    """``about.json`` of a study whose estimates were imported: sizes from the file, t and m
    as the configuration states them (the file records neither), accuracies unknown (NaN)."""
    n, n_test = len(estimates.mem), len(estimates.test_labels)
    return {
        "study": name, "dataset": study["dataset"], "arch": study["arch"], "n": n,
        "n_test": n_test, "trials": int(study["trials"]), "valid_trials": int(study["trials"]),
        "m": subset_size(n, study["subset_ratio"]),
        "subset_ratio": float(study["subset_ratio"]),
        "label_noise": float(study["label_noise"]), "seed": int(study["seed"]), "train": {},
        "test_accuracy_mean": float("nan"), "test_accuracy_std": float("nan"),
        "subset_fit": float("nan"), "released": os.fspath(path)}


def released_about_rst(about: Mapping[str, Any]) -> str:
    """The reStructuredText paragraph of a study with imported released estimates."""
    return (f"**{about['study']}**: estimates imported from the paper authors' released file "
            f"{about['released']} ({about['n']:,} training and {about['n_test']:,} "
            f"test examples; t = {about['trials']}, m = {about['m']:,} as "
            f"configured; the file records no standard errors or accuracies).\n")


def write_released_about(estimates_path: str | os.PathLike, name: str,
                         study: Mapping[str, Any], out_json: str | os.PathLike,
                         out_rst: str | os.PathLike) -> dict[str, Any]:
    """Write ``about.json`` and ``about.rst`` of a study with imported released estimates."""
    estimates = read_estimates(estimates_path)
    about = released_about(estimates, estimates.attrs.get("released_from", ""), name, study)
    write_json(out_json, about)
    write_text(out_rst, released_about_rst(about))
    return about


def read_about(path: str | os.PathLike) -> dict[str, Any]:
    """Read ``about.json``."""
    with open(path) as fh:
        return json.load(fh)
