"""Training one K-fold split (:mod:`longtail.labels.kfold`): K models of the study's architecture
and recipe, each on K - 1 folds, and the softmax of the held-out fold (needs torch)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from longtail.config.study import Study
from longtail.data import load_study_data
from longtail.labels.kfold import KFoldResult, fold_assignment, fold_seed, write_kfold
from longtail.train import batched
from longtail.train.recipe import Normalizer, Recipe, TrainingData
from longtail.train.stages import training_data
from longtail.train.training import (
    SingleModelRun,
    configure_backend,
    resolve_device,
    resolve_method,
)

log = logging.getLogger(__name__)


def train_kfold(data_path: str | os.PathLike, out_path: str | os.PathLike,
                study: Study | Mapping[str, Any], folds: int, repeat: int) -> None:
    """Train the K models of one K-fold split (study's arch and recipe) and write the
    out-of-fold probabilities atomically. Fully-connected models with folds of equal size
    train together as one batched ensemble (:mod:`longtail.train.batched`, as the trials do under
    ``method: auto``), others one at a time."""
    study = Study.of(study)
    data = load_study_data(data_path)
    n, classes = len(data.y_train), len(data.classes)
    recipe = Recipe.from_config(study.train)
    device = resolve_device(recipe.device)
    configure_backend(recipe, device)
    tensors = training_data(data).to(device)
    fold = fold_assignment(n, folds, study.seed, repeat)
    seeds = [fold_seed(study.seed, folds, repeat, k) for k in range(folds)]
    equal = len(set(np.bincount(fold, minlength=folds).tolist())) == 1
    train = (_batched if resolve_method(recipe, study.arch, device) == "batched" and equal
             else _one_at_a_time)
    began = time.perf_counter()
    probs, diverged = train(tensors, study.arch, recipe, seeds, fold, device)
    wall = np.full(folds, (time.perf_counter() - began) / folds)
    for k in range(folds):
        held = fold == k
        log.info("K=%d repeat %d fold %d: %d held out, accuracy on them %.4f", folds, repeat,
                 k, int(held.sum()), float((probs[held].argmax(1) == data.y_train[held]).mean()))
    log.info("%d models in %.1f s (%s)", folds, wall.sum(), train.__name__.strip("_"))
    write_kfold(out_path, KFoldResult(np.nan_to_num(probs, nan=1.0 / classes), fold, wall,
                                      diverged, {
        "folds": folds, "repeat": repeat, "models": folds,
        "train_size": float(n * (folds - 1) / folds), "n": n, "num_classes": classes,
        "fingerprint": study.trials_fingerprint, "data_hash": data.data_hash}))


def _batched(data: TrainingData, arch: str, recipe: Recipe, seeds: list[int],
             fold: np.ndarray, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    masks = np.stack([fold != k for k in range(len(seeds))])
    with tqdm(disable=True) as bar:
        fitted = batched.fit_batched(data, arch, recipe, seeds, masks, device, bar)
    probs = np.zeros((len(fold), data.num_classes), dtype=np.float32)
    with torch.no_grad():
        for k in range(len(seeds)):
            held = torch.from_numpy(np.flatnonzero(fold == k)).to(device)
            x = fitted.x_train[held].reshape(len(held), -1)
            logits = batched.mlp_forward([p[k:k + 1] for p in fitted.params], x)[0]
            probs[fold == k] = torch.softmax(logits.float(), dim=1).cpu().numpy()
    finite = np.array([np.isfinite(probs[fold == k]).all() for k in range(len(seeds))])
    return probs, fitted.diverged.cpu().numpy() | ~finite


def _one_at_a_time(data: TrainingData, arch: str, recipe: Recipe, seeds: list[int],
                   fold: np.ndarray, device: torch.device, chunk: int = 2048
                   ) -> tuple[np.ndarray, np.ndarray]:
    normalize = Normalizer(data.x_train)
    probs = np.zeros((len(fold), data.num_classes), dtype=np.float32)
    diverged = np.zeros(len(seeds), dtype=bool)
    for k, seed in enumerate(seeds):
        run = SingleModelRun(data, arch, recipe, seed, fold != k, device, normalize)
        run.model.train()
        for step, batch in enumerate(run.batches()):
            run.step(step, batch)
        run.model.eval()
        held = torch.from_numpy(np.flatnonzero(fold == k)).to(device)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16,
                                             enabled=run.bf16):
            # in chunks, as training's own evaluation: a fold of a full dataset through a
            # conv net at once would not fit a GPU's memory
            chunks = [torch.softmax(run.forward(normalize(xs)).float(), dim=1)
                      for xs in data.x_train[held].split(chunk)]
        probs[fold == k] = torch.cat(chunks).cpu().numpy()
        diverged[k] = bool(run.diverged) or not np.isfinite(probs[fold == k]).all()
    return probs, diverged
