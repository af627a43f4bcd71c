"""Training one K-fold split (:mod:`longtail.kfold`): K models of the study's architecture and
recipe, each on K - 1 folds, and the softmax of the held-out fold (needs torch)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from longtail.data import load_study_data
from longtail.kfold import KFoldResult, fold_assignment, fold_seed, write_kfold
from longtail.recipe import Normalizer, Recipe
from longtail.stages import training_data
from longtail.study import Study
from longtail.training import SingleModelRun, configure_backend, resolve_device

log = logging.getLogger(__name__)


def train_kfold(data_path: str | os.PathLike, out_path: str | os.PathLike,
                study: Study | Mapping[str, Any], folds: int, repeat: int) -> None:
    """Train the K models of one K-fold split (study's arch and recipe) and write the
    out-of-fold probabilities atomically."""
    study = Study.of(study)
    data = load_study_data(data_path)
    n, classes = len(data.y_train), len(data.classes)
    recipe = Recipe.from_config(study.train)
    device = resolve_device(recipe.device)
    configure_backend(recipe, device)
    tensors = training_data(data).to(device)
    normalize = Normalizer(tensors.x_train)
    fold = fold_assignment(n, folds, study.seed, repeat)
    probs = np.zeros((n, classes), dtype=np.float32)
    wall, diverged = np.zeros(folds), np.zeros(folds, dtype=bool)
    for k in range(folds):
        began = time.perf_counter()
        run = SingleModelRun(tensors, study.arch, recipe, fold_seed(study.seed, folds, repeat, k),
                             fold != k, device, normalize)
        run.model.train()
        for step, batch in enumerate(run.batches()):
            run.step(step, batch)
        run.model.eval()
        held = torch.from_numpy(np.flatnonzero(fold == k)).to(device)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16,
                                             enabled=run.bf16):
            logits = run.forward(normalize(tensors.x_train[held]))
        p = torch.softmax(logits.float(), dim=1).cpu().numpy()
        diverged[k] = bool(run.diverged) or not np.isfinite(p).all()
        probs[fold == k] = np.nan_to_num(p, nan=1.0 / classes)
        wall[k] = time.perf_counter() - began
        log.info("K=%d repeat %d fold %d: %d held out, accuracy on them %.4f, %.1f s", folds,
                 repeat, k, len(held), float((p.argmax(1) == data.y_train[fold == k]).mean()),
                 wall[k])
    write_kfold(out_path, KFoldResult(probs, fold, wall, diverged, {
        "folds": folds, "repeat": repeat, "models": folds,
        "train_size": float(n * (folds - 1) / folds), "n": n, "num_classes": classes,
        "fingerprint": study.trials_fingerprint, "data_hash": data.data_hash}))
