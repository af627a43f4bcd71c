"""The training stages: a shard of Algorithm 1's trials from a study's data to an HDF5 shard,
the aggregation of shards into the correctness store, and a shard of Fig. 2's removal runs
(:mod:`longtail.estimators.removal` plans them, names their files and summarizes them)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from longtail.config.study import Study, parse_part
from longtail.data import StudyData, load_study_data
from longtail.estimators.estimates import read_estimates
from longtail.estimators.removal import PART_KINDS, pairs_removed, plan_part, write_removal
from longtail.estimators.rounds import decide_round
from longtail.estimators.select import is_memorized
from longtail.store.correctness import (
    CorrectnessStore,
    StoreError,
    aggregate_shards,
    shard_precision,
    write_shard,
    write_store,
)
from longtail.train.recipe import Recipe, TrainingData, resolved_precision
from longtail.train.training import resolve_device, subset_mask, train_trials

log = logging.getLogger(__name__)


def study_attrs(study: Study | Mapping[str, Any], data: StudyData) -> dict[str, Any]:
    """Attributes that identify a study's trials in every shard and store (``study_config``:
    the params the job was given)."""
    study = Study.of(study)
    n, n_test = len(data.y_train), len(data.y_test)
    return {"dataset": study.dataset, "arch": study.arch, "n": n, "n_test": n_test,
            "subset_size": study.subset_size(n), "fingerprint": study.trials_fingerprint,
            "data_hash": data.data_hash, "study_config": dict(study.config)}


def training_data(data: StudyData) -> TrainingData:
    return TrainingData.from_arrays(data.x_train, data.y_train, data.x_test, data.y_test,
                                    len(data.classes))


def trial_plan(study: Study | Mapping[str, Any], n: int, trials: Sequence[int]
               ) -> tuple[list[int], np.ndarray]:
    """Seeds and subset masks of the given trial ids (Algorithm 1, line 1)."""
    study = Study.of(study)
    m = study.subset_size(n)
    seeds = [study.trial_seed(k) for k in trials]
    return seeds, np.stack([subset_mask(n, m, seed) for seed in seeds])


def train_shard(data_path: str | os.PathLike, out_path: str | os.PathLike,
                study: Study | Mapping[str, Any], start: int, stop: int,
                progress: bool = True) -> None:
    """Train trials [start, stop) of a study (its :meth:`Study.training_params` suffice) and
    write them as one shard (atomically)."""
    study = Study.of(study)
    data = load_study_data(data_path)
    trials = list(range(start, stop))
    seeds, masks = trial_plan(study, len(data.y_train), trials)
    recipe = Recipe.from_config(study.train)
    log.info("training trials %d-%d of %s (%s, m=%d of n=%d)", start, stop - 1,
             study.dataset, study.arch, int(masks[0].sum()), len(data.y_train))
    results = train_trials(training_data(data), study.arch, recipe, seeds, masks,
                           trial_ids=trials, progress=progress)
    if results.diverged.any():
        log.warning("%d of %d trials diverged (non-finite loss); they are kept, marked, and "
                    "excluded by the estimators", int(results.diverged.sum()), len(trials))
    log.info("mean test accuracy %.4f", float(results.test_accuracy.mean()))
    precision = resolved_precision(recipe, resolve_device(recipe.device))
    write_shard(out_path, results, {**study_attrs(study, data), "precision": precision})


def aggregate(data_path: str | os.PathLike, shard_paths: Sequence[str | os.PathLike],
              out_path: str | os.PathLike, study: Study | Mapping[str, Any],
              trials_until: Mapping[str, Any] | None = None) -> None:
    """Build ``correctness.h5`` from a study's shards (its :meth:`Study.store_params`
    suffice); refuse shards of another config. A study that trains until its findings
    replicate gives the last round's verdict (:func:`longtail.estimators.rounds.decide`): its t."""
    study = Study.of(study)
    data = load_study_data(data_path)
    attrs = study_attrs(study, data)
    precision = shard_precision(shard_paths)
    trials = aggregate_shards(shard_paths, attrs["fingerprint"], attrs["data_hash"])
    expected = np.arange(study.trials if trials_until is None else trials_until["t"])
    if not np.array_equal(trials.trial, expected):
        missing = sorted(set(expected.tolist()) - set(trials.trial.tolist()))[:10]
        raise StoreError(f"shards cover trials {trials.trial.min()}..{trials.trial.max()} "
                         f"({len(trials.trial)} trials); missing e.g. {missing}")
    if trials.mask.shape[1] != attrs["n"]:
        raise StoreError(f"shards have n={trials.mask.shape[1]}, {data_path} has {attrs['n']}")
    write_store(out_path, CorrectnessStore(
        trials=trials, train_labels=data.y_train, test_labels=data.y_test,
        train_source_index=data.train_source_index, test_source_index=data.test_source_index,
        train_label_flipped=data.train_label_flipped, attrs={**attrs, "trials": len(expected),
                                          **({"precision": precision} if precision else {})}))


def train_removal(data_path: str | os.PathLike, out_path: str | os.PathLike,
                  study: Study | Mapping[str, Any], part: str, start: int, stop: int,
                  estimates_path: str | os.PathLike | None = None,
                  pairs_path: str | os.PathLike | None = None, progress: bool = True) -> None:
    """Train repeats [start, stop) of every kind of ``part`` and write one shard atomically
    (the study's :meth:`Study.training_params` suffice).

    ``mem-*`` parts read mem~ from ``estimates_path``; ``pairs`` reads the pairs CSV;
    ``full`` and ``random-*`` need neither.
    """
    study = Study.of(study)
    data = load_study_data(data_path)
    n = len(data.y_train)
    family, threshold = parse_part(part)
    removed = None
    if family == "mem":
        if estimates_path is None:
            raise ValueError(f"part {part} needs the estimates (mem~)")
        removed = is_memorized(read_estimates(estimates_path), threshold)
    elif family == "pairs":
        if pairs_path is None:
            raise ValueError("part pairs needs the pairs CSV")
        removed = pairs_removed(pd.read_csv(pairs_path)["train_index"].to_numpy(), n)
    plan = plan_part(part, study.seed, n, range(start, stop), removed)
    log.info("part %s, repeats %d-%d: %d runs (%s) on %d of n=%d examples", part, start,
             stop - 1, len(plan.kind), ", ".join(PART_KINDS[family]), int(plan.keep[0].sum()), n)
    results = train_trials(training_data(data), study.arch, Recipe.from_config(study.train),
                           plan.seed.tolist(), plan.keep, progress=progress)
    if results.diverged.any():
        log.warning("%d of %d runs diverged; they are kept, marked and left out of summaries",
                    int(results.diverged.sum()), len(plan.kind))
    for kind in PART_KINDS[family]:
        log.info("%s: mean test accuracy %.4f", kind,
                 float(results.test_accuracy[plan.kind == kind].mean()))
    attrs = {"part": part, "threshold": plan.threshold, "removed": int(n - plan.keep[0].sum()),
             "n": n,
             "n_test": len(data.y_test), "fingerprint": study.trials_fingerprint,
             "study_config": json.dumps(dict(study.config))}
    write_removal(out_path, plan, results.test_correct, results.wall_time, results.diverged,
                  attrs)


def decide_trials_round(data_path: str | os.PathLike, shard_paths: Sequence[str | os.PathLike],
                        out_path: str | os.PathLike, study: Study | Mapping[str, Any],
                        round_index: int, thresholds: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict of round ``round_index`` of a study that trains until its findings
    replicate (:func:`longtail.estimators.rounds.decide_round`), written as JSON."""
    study = Study.of(study)
    data = load_study_data(data_path)
    attrs = study_attrs(study, data)
    verdict = decide_round(shard_paths, data.y_train, data.y_test, attrs["fingerprint"],
                           study.until, round_index, thresholds, study.seed, out_path,
                           attrs["data_hash"])
    log.info("round %d of %s: %s", round_index, study.dataset, verdict["reason"])
    return verdict
