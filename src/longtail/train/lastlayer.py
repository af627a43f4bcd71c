"""Last-layer-only estimates (Section 3, "Does the last layer suffice for memorization?").

Train the study's architecture once on the full training set with the study's recipe, take
the penultimate-layer representation ``body(x)`` of every training and test example, then run
Algorithm 1 with a fresh linear classifier on the representations as the learning algorithm:
on the *same* subsets I_k as the full study (trial k's subset depends only on the study seed
and k), one randomly initialised linear model per trial. Its correctness store has the schema
of :mod:`longtail.store.correctness`, so the estimators and the pair selection run on it unchanged.

The paper (ResNet50 on CIFAR-100) found the linear models as accurate as the full model but
with far fewer memorized examples and high-influence pairs: memorization lives in the
representation (its numbers: :data:`longtail.reporting.paper.LASTLAYER`).

``representations.h5`` layout (the penultimate representations of every training and test
example and the full model's correctness): docs/formats.md ("representations.h5"). Written and
read through :mod:`longtail.store.h5`; a file without ``complete`` or with a changed byte is refused
(StoreError naming the file and the dataset).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from longtail.config.study import Study
from longtail.data import load_study_data
from longtail.estimators.agreement import agreement
from longtail.estimators.estimates import iter_influence, load_influence, read_estimates
from longtail.estimators.select import is_memorized, select_pairs
from longtail.store.correctness import (
    CorrectnessStore,
    StoreError,
    StoreReader,
    TrialResults,
    write_store,
)
from longtail.store.h5 import create, create_dataset, open_file, read, read_attrs, write_attrs
from longtail.train.models import Classifier
from longtail.train.recipe import Normalizer, Recipe, TrainingData
from longtail.train.stages import study_attrs, training_data, trial_plan
from longtail.train.training import SingleModelRun, configure_backend, resolve_device, train_trials

log = logging.getLogger(__name__)

REPRESENTATION_ARRAYS = ("train", "test", "train_labels", "test_labels", "full_train_correct",
                         "full_test_correct")


@dataclass
class Representations:
    """Penultimate-layer representations of a study's examples under its full model."""

    train: np.ndarray                # (n, D) float32
    test: np.ndarray                 # (n_test, D) float32
    train_labels: np.ndarray         # (n,) int64
    test_labels: np.ndarray          # (n_test,) int64
    full_train_correct: np.ndarray   # (n,) bool, the full model on its own training set
    full_test_correct: np.ndarray    # (n_test,) bool
    attrs: dict[str, Any] = field(default_factory=dict)

    def training_data(self) -> TrainingData:
        """The representations as a training set for ``arch = linear`` ((N, D) -> (N, D, 1, 1))."""
        return TrainingData.from_arrays(self.train, self.train_labels, self.test,
                                        self.test_labels, int(self.attrs["num_classes"]))


# ----------------------------------------------------------------- the full model

@dataclass
class FullModel:
    """A model trained once on all n examples, with what extraction needs to reproduce its
    inputs (the training set's normalisation and memory format)."""

    model: Classifier
    normalize: Normalizer
    memory_format: torch.memory_format
    train_correct: np.ndarray
    test_correct: np.ndarray
    seconds: float


def train_full_model(data: TrainingData, arch: str, recipe: Recipe, seed: int) -> FullModel:
    """Train ``arch`` once on the whole training set (I = [n]) with the study's recipe.

    This is the training loop every trial of the study runs (one model of training's loop
    path), so the representation comes from the study's own learning algorithm A.
    """
    device = resolve_device(recipe.device)
    configure_backend(recipe, device)
    data = data.to(device)
    began = time.perf_counter()
    run = SingleModelRun(data, arch, recipe, seed, np.ones(len(data.y_train), bool), device,
                         Normalizer(data.x_train))
    run.model.train()
    for step, batch in enumerate(run.batches()):
        run.step(step, batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - began
    train_prediction, test_prediction, failed = run.finish()
    train_correct = train_prediction == data.y_train.cpu().numpy()
    test_correct = test_prediction == data.y_test.cpu().numpy()
    if failed:
        raise RuntimeError(f"the full {arch} model diverged (non-finite loss or weights); "
                           f"its representation is unusable (lower train.lr)")
    return FullModel(run.model, run.normalize, run.memory_format, train_correct, test_correct,
                     seconds)


@torch.no_grad()
def penultimate(model: Classifier, normalize: Normalizer, x: torch.Tensor,
                memory_format: torch.memory_format = torch.contiguous_format,
                chunk: int = 2048) -> np.ndarray:
    """(N, D) float32 penultimate-layer representation ``model.body(x)`` (eval mode, fp32)."""
    model.eval()
    parts = [model.body(normalize(xs).contiguous(memory_format=memory_format)).float().flatten(1)
             for xs in x.split(chunk)]
    return torch.cat(parts).cpu().numpy().astype(np.float32, copy=False)


def extract(full: FullModel, data: TrainingData) -> tuple[np.ndarray, np.ndarray]:
    """Representations of every training and test example under the full model."""
    device = next(full.model.parameters()).device
    return tuple(penultimate(full.model, full.normalize, x.to(device), full.memory_format)
                 for x in (data.x_train, data.x_test))


# ----------------------------------------------------------------- representations.h5

def write_representations(path: str | os.PathLike, reps: Representations) -> None:
    """Write ``representations.h5`` (layout in the module docstring) atomically."""
    with create(path) as h5:
        for name in REPRESENTATION_ARRAYS:
            create_dataset(h5, name, getattr(reps, name))
        write_attrs(h5, reps.attrs)


def read_representations(path: str | os.PathLike) -> Representations:
    """Read ``representations.h5``; StoreError naming the file (and the dataset) if it is
    unreadable, incomplete or corrupt."""
    with open_file(path, StoreError, "representations file") as h5:
        arrays = {name: read(h5, name, path, StoreError) for name in REPRESENTATION_ARRAYS}
        attrs = read_attrs(h5, StoreError)
    reps = Representations(**arrays, attrs=attrs)
    if len(reps.train) != len(reps.train_labels) or len(reps.test) != len(reps.test_labels):
        raise StoreError(f"{path}: representations and labels differ in length")
    return reps


def extract_representations(data_path: str | os.PathLike, out_path: str | os.PathLike,
                            study: Study | Mapping[str, Any]) -> Representations:
    """Stage: train the study's architecture on all of its training data with its recipe and
    write the penultimate representations of its training and test examples (the study's
    :meth:`Study.training_params` suffice)."""
    study = Study.of(study)
    data = load_study_data(data_path)
    examples = training_data(data)
    recipe = Recipe.from_config(study.train)
    seed = study.full_model_seed
    log.info("training the full %s on all n=%d examples (%d epochs)", study.arch,
             len(data.y_train), recipe.epochs)
    full = train_full_model(examples, study.arch, recipe, seed)
    began = time.perf_counter()
    train, test = extract(full, examples)
    extract_seconds = time.perf_counter() - began
    reps = Representations(
        train=train, test=test, train_labels=np.asarray(data.y_train, np.int64),
        test_labels=np.asarray(data.y_test, np.int64), full_train_correct=full.train_correct,
        full_test_correct=full.test_correct,
        attrs={"dataset": study.dataset, "arch": study.arch, "seed": seed,
               "data_hash": data.data_hash, "fingerprint": study.trials_fingerprint,
               "num_classes": len(data.classes), "train_seconds": full.seconds,
               "extract_seconds": extract_seconds,
               "train_accuracy": float(full.train_correct.mean()),
               "test_accuracy": float(full.test_correct.mean())})
    log.info("full model: %.1f s, train accuracy %.4f, test accuracy %.4f; representation "
             "D = %d (%.1f s)", full.seconds, reps.attrs["train_accuracy"],
             reps.attrs["test_accuracy"], train.shape[1], extract_seconds)
    write_representations(out_path, reps)
    return reps


# ----------------------------------------------------------------- linear trials

def linear_trials(reps: Representations, study: Study | Mapping[str, Any], recipe: Recipe,
                  trials: list[int], progress: bool = True) -> TrialResults:
    """Algorithm 1, lines 1-3, with a fresh linear classifier on the representations as A:
    trial k trains on the same subset I_k (and from the same seed) as the study's trial k."""
    seeds, masks = trial_plan(study, len(reps.train_labels), trials)
    return train_trials(reps.training_data(), "linear", recipe, seeds, masks, trial_ids=trials,
                        progress=progress)


def train_lastlayer(data_path: str | os.PathLike, reps_path: str | os.PathLike,
                    out_path: str | os.PathLike, study: Study | Mapping[str, Any],
                    linear_train: Mapping[str, Any], progress: bool = True) -> None:
    """Stage: all t linear trials of a study on its representations -> a correctness store
    (``arch = linear``, attribute ``representation_arch``) in the schema of
    longtail.store.correctness (the study's :meth:`Study.all_trials_params` suffice)."""
    study = Study.of(study)
    data = load_study_data(data_path)
    reps = read_representations(reps_path)
    if reps.attrs.get("data_hash") != data.data_hash or \
            reps.attrs.get("fingerprint") != study.trials_fingerprint:
        raise StoreError(f"{reps_path} was extracted for other data or another recipe than "
                         f"{data_path} and this study; re-extract it")
    recipe = Recipe.from_config(linear_train)
    trials = list(range(study.trials))
    log.info("training %d linear models on %d-dimensional representations of %s (%s)",
             len(trials), reps.train.shape[1], study.dataset, study.arch)
    results = linear_trials(reps, study, recipe, trials, progress=progress)
    log.info("linear models: mean test accuracy %.4f, %.4f s per model, %d diverged",
             float(results.test_accuracy.mean()), float(results.wall_time.mean()),
             int(results.diverged.sum()))
    attrs = {**study_attrs(study, data), "arch": "linear", "representation_arch": study.arch,
             "fingerprint": study.lastlayer_fingerprint(linear_train), "trials": len(trials)}
    write_store(out_path, CorrectnessStore(
        trials=results, train_labels=data.y_train, test_labels=data.y_test,
        train_source_index=data.train_source_index, test_source_index=data.test_source_index,
        train_label_flipped=data.train_label_flipped, attrs=attrs))


# ----------------------------------------------------------------- the comparison

def _trial_times(store_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(test accuracy, wall time) of the valid trials of a store."""
    with StoreReader(store_path) as store:
        valid = ~store.array("diverged")
        return store.array("test_accuracy")[valid], store.array("wall_time")[valid]


@dataclass(frozen=True)
class LastLayerInputs:
    """One study's outputs that the last-layer summary compares: ``full_*`` from the study's
    own subset models, ``linear_*`` from the linear models on the representation."""

    representations: str | os.PathLike
    full_store: str | os.PathLike
    full_estimates: str | os.PathLike
    linear_store: str | os.PathLike
    linear_estimates: str | os.PathLike
    linear_pairs: str | os.PathLike


def lastlayer_summary(study: str, paths: LastLayerInputs, mem_threshold: float,
                      infl_threshold: float) -> dict[str, Any]:
    """The numbers Section 3 reports for the last-layer-only estimator, beside the full study:
    test accuracy of the full model, of the linear models and of the subset models; examples
    with mem >= ``mem_threshold`` and high-influence pairs under each, with their agreement;
    and the training time per model of each (the paper's speed-up, 720x for ResNet50)."""
    reps = read_representations(paths.representations)
    full_acc, full_time = _trial_times(paths.full_store)
    linear_acc, linear_time = _trial_times(paths.linear_store)
    full = read_estimates(paths.full_estimates)
    linear = read_estimates(paths.linear_estimates)
    # the full model's pairs at the linear models' thresholds (its own pairs.csv may use the
    # thresholds `auto` chose), so both sides are selected alike
    full_pairs = select_pairs(full, iter_influence(paths.full_estimates,
                                                   is_memorized(full, mem_threshold)),
                              mem_threshold, infl_threshold)
    agree = agreement(full, linear, full_pairs, pd.read_csv(paths.linear_pairs),
                      mem_threshold, infl_threshold)
    representation_seconds = float(reps.attrs["train_seconds"] + reps.attrs["extract_seconds"])
    lastlayer_total = representation_seconds + float(linear_time.sum())
    return {
        "study": study, "arch": str(reps.attrs["arch"]), "trials": len(full_acc),
        "linear_trials": len(linear_acc), "representation_dim": int(reps.train.shape[1]),
        "full_model_test_accuracy": float(reps.attrs["test_accuracy"]),
        "full_model_train_accuracy": float(reps.attrs["train_accuracy"]),
        "subset_models_test_accuracy": float(full_acc.mean()),
        "subset_models_test_accuracy_sd": float(full_acc.std(ddof=1)),
        "linear_models_test_accuracy": float(linear_acc.mean()),
        "linear_models_test_accuracy_sd": float(linear_acc.std(ddof=1)),
        "mem_threshold": float(mem_threshold),
        "memorized_subset_models": agree["memorized_a"],
        "memorized_linear_models": agree["memorized_b"],
        "memorized_both": agree["memorized_both"],
        "infl_threshold": float(infl_threshold),
        "pairs_subset_models": agree["pairs_a"], "pairs_linear_models": agree["pairs_b"],
        "pairs_both": agree["pairs_both"], "jaccard_pairs": agree["jaccard_pairs"],
        "mem_pearson": agree["pearson"], "mem_spearman": agree["spearman"],
        "seconds_per_subset_model": float(full_time.mean()),
        "seconds_per_linear_model": float(linear_time.mean()),
        "speed_ratio": float(full_time.mean() / linear_time.mean()),
        "representation_seconds": representation_seconds,
        "total_seconds_subset_models": float(full_time.sum()),
        "total_seconds_lastlayer": lastlayer_total,
        "total_speed_ratio": float(full_time.sum() / lastlayer_total),
    }


# ----------------------------------------------------------------- Fig. C.3 data

def same_class_influence_pairs(full_estimates: str | os.PathLike,
                               linear_estimates: str | os.PathLike
                               ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(infl_full, infl_linear) of every same-class pair (y_i = y'_j) estimated in both
    files, one class or row block at a time; pairs undefined in either are left out."""
    full = read_estimates(full_estimates)
    linear = read_estimates(linear_estimates)
    if not (np.array_equal(full.train_source_index, linear.train_source_index)
            and np.array_equal(full.test_source_index, linear.test_source_index)):
        raise StoreError(f"{full_estimates} and {linear_estimates} estimate different examples")
    for block in iter_influence(full_estimates):
        other = load_influence(linear_estimates, block.train_index, block.test_index)
        same = full.train_labels[block.train_index, None] == \
            full.test_labels[None, block.test_index]
        keep = same & np.isfinite(block.infl) & np.isfinite(other)
        yield block.infl[keep], other[keep]
