"""Label-error detectors side by side: mem~, 1 - p_out and cleanlab, at a training cost.

Every detector ranks the training examples (higher: more likely mislabeled) and flags a set:

* ``mem~`` = p_in - p_out (Alg. 1 line 5) over the first t trials; flags mem~ >= 0.5;
* ``1 - p_out``: the share of held-out models that disagree with the label; flags
  p_out < 0.5 (most held-out models disagree);
* ``cleanlab``: ``cleanlab.rank.get_label_quality_scores(labels, pred_probs)`` ranks
  (1 - quality; its default method, self-confidence, is pred_probs[i, y_i]) and
  ``cleanlab.filter.find_label_issues(labels, pred_probs)`` flags, on (a) the held-out vote
  shares of the first t trials (what ``longtail scores --format cleanlab`` writes) or (b)
  K-fold out-of-fold softmax probabilities (:mod:`longtail.labels.kfold`).

On vote shares, self-confidence equals p_out, so cleanlab's ranking there is 1 - p_out's, but
for examples that no trial held out (about 0.7^t of them: 5.8% at t = 8, none in practice from
t = 32): there mem~ and p_out are undefined and rank last, while their vote-share row is uniform
and cleanlab ranks it 1 - 1/C, near the top. Its
flagged set differs (confident learning's per-class thresholds). The cost of a detector is the
number of models trained (t trials of m examples, or K models of n (K - 1) / K each).

This module is the one that imports cleanlab (only inside :func:`label_quality` and
:func:`label_issues`, so the rest runs without it).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from longtail.estimators.algorithm1 import held_out_votes
from longtail.labels.kfold import KFoldResult, mean_probs
from longtail.labels.noise import auroc, average_precision, precision_at_k, precision_recall_curve
from longtail.store.correctness import CorrectnessStore, StoreError

MEM_FLAG = 0.5  # mem~ >= 0.5 flags an example
P_OUT_FLAG = 0.5  # p_out < 0.5 flags an example
QUALITY_METHOD = "self_confidence"  # cleanlab's default label quality score


def cleanlab_available() -> bool:
    """Whether cleanlab can be imported (the optional extra ``longtail[cleanlab]``)."""
    return importlib.util.find_spec("cleanlab") is not None


def label_quality(labels: np.ndarray, pred_probs: np.ndarray,
                  method: str = QUALITY_METHOD) -> np.ndarray:
    """cleanlab's label quality score per example (lower: more likely mislabeled)."""
    from cleanlab.rank import get_label_quality_scores
    return np.asarray(get_label_quality_scores(np.asarray(labels), np.asarray(pred_probs),
                                               method=method), dtype=np.float64)


def label_issues(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """cleanlab's ``find_label_issues`` with its defaults: (n,) bool, the flagged examples."""
    from cleanlab.filter import find_label_issues
    return np.asarray(find_label_issues(np.asarray(labels), np.asarray(pred_probs)), dtype=bool)


# ---------------------------------------------------------------- inputs from the trials

@dataclass
class TrialInputs:
    """What the first t valid trials give every example: mem~, p_out and vote shares."""

    mem: np.ndarray  # (n,) NaN where no trial holds it in or none out
    p_out: np.ndarray  # (n,) NaN where no trial holds it out
    vote_probs: np.ndarray  # (n, C) held-out vote shares; uniform where none holds it out
    models: int  # trials used (diverged ones included: they were trained)
    train_size: float  # examples per model


def trial_inputs(store: CorrectnessStore, t: int) -> TrialInputs:
    """mem~, p_out and the held-out vote shares from the trials with ids 0..t-1 (the prefix
    ``longtail estimate --trials 0-t`` reads); diverged trials are left out of the counts."""
    trial = np.asarray(store.trials.trial)
    use = (trial < t) & store.valid_trials
    if (trial < t).sum() < t:
        raise StoreError(f"the store holds {(trial < t).sum()} of trials 0..{t - 1}; "
                         f"detectors.trials asks for the first {t}")
    mask, correct = store.mask[use], store.train_correct[use]
    n_in, n_out = mask.sum(axis=0), (~mask).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_in = (mask & correct).sum(axis=0) / n_in
        p_out = (~mask & correct).sum(axis=0) / n_out
    num_classes = int(max(store.train_labels.max(), store.test_labels.max())) + 1
    votes = held_out_votes(mask, store.trials.train_prediction[use], num_classes)
    total = votes.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        probs = np.where(total > 0, votes / np.maximum(total, 1), 1.0 / num_classes)
    return TrialInputs(mem=p_in - p_out, p_out=p_out, vote_probs=probs.astype(np.float32),
                       models=t, train_size=float(mask.sum(axis=1).mean()))


# ---------------------------------------------------------------- detectors and metrics

@dataclass
class Detector:
    """One detector: its ranking score, its flagged set and what it cost."""

    name: str
    probabilities: str  # where its inputs come from ("held-out votes, t = 128", "5-fold")
    score: np.ndarray
    flagged: np.ndarray
    models: int
    train_size: float


def trial_detectors(store: CorrectnessStore, t: int, with_cleanlab: bool = True
                    ) -> list[Detector]:
    """mem~, 1 - p_out and (with cleanlab) cleanlab on the vote shares of trials 0..t-1."""
    inputs = trial_inputs(store, t)
    source = f"held-out votes, t = {t}"
    cost = {"models": inputs.models, "train_size": inputs.train_size}
    out = [Detector("mem~", source, inputs.mem, np.nan_to_num(inputs.mem, nan=-1) >= MEM_FLAG,
                    **cost),
           Detector("1 - p_out", source, 1 - inputs.p_out,
                    np.nan_to_num(inputs.p_out, nan=1) < P_OUT_FLAG, **cost)]
    if with_cleanlab:
        out.append(cleanlab_detector(store.train_labels, inputs.vote_probs, source, **cost))
    return out


def cleanlab_detector(labels: np.ndarray, pred_probs: np.ndarray, probabilities: str, *,
                      models: int, train_size: float) -> Detector:
    return Detector("cleanlab", probabilities, 1 - label_quality(labels, pred_probs),
                    label_issues(labels, pred_probs), models, train_size)


def kfold_detector(labels: np.ndarray, results: Sequence[KFoldResult]) -> Detector:
    """cleanlab on K-fold out-of-fold probabilities (averaged over repeats)."""
    probs, models = mean_probs(results)
    folds = int(results[0].attrs["folds"])
    source = f"{folds}-fold" + (f" x {len(results)}" if len(results) > 1 else "")
    return cleanlab_detector(labels, probs, source, models=models,
                             train_size=float(results[0].attrs["train_size"]))


def evaluate(detector: Detector, flipped: np.ndarray) -> dict[str, Any]:
    """AUROC, average precision, precision at k = number flipped, and the precision and
    recall of the flagged set; the models trained and the examples they were trained on."""
    flipped = np.asarray(flipped, dtype=bool)
    k = int(flipped.sum())
    n_flagged = int(detector.flagged.sum())
    hits = int((detector.flagged & flipped).sum())
    return {"detector": detector.name, "probabilities": detector.probabilities,
            "models": detector.models, "train_examples": detector.models * detector.train_size,
            "auroc": auroc(detector.score, flipped),
            "average_precision": average_precision(detector.score, flipped),
            "precision_at_k": precision_at_k(detector.score, flipped, k), "k": k,
            "n_flagged": n_flagged,
            "flagged_precision": hits / n_flagged if n_flagged else math.nan,
            "flagged_recall": hits / k if k else math.nan}


def pr_curve(detector: Detector, flipped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) of the detector's ranking (for the figure)."""
    precision, recall, _ = precision_recall_curve(detector.score, flipped)
    return precision, recall


def side_by_side(store: CorrectnessStore, kfold: Sequence[KFoldResult]) -> list[Detector]:
    """The detectors of tables/detectors_<study>: mem~, 1 - p_out and cleanlab on all the
    study's trials, cleanlab on the K-fold probabilities given (one K, its repeats)."""
    detectors = trial_detectors(store, int(len(store.trials.trial)))
    if kfold:
        detectors.append(kfold_detector(store.train_labels, kfold))
    return detectors


def cost_curve(store: CorrectnessStore, trials: Sequence[int],
               kfold: dict[int, list[KFoldResult]], main_folds: int) -> list[dict[str, Any]]:
    """AUROC and AP against models trained: every trial-based detector at each prefix t,
    cleanlab on K-fold for each K (first repeat) and on repeated main_folds-fold (r repeats)."""
    flipped = store.train_label_flipped
    rows = []
    for t in sorted(trials):
        rows += [{"method": d.name + " (votes)" if d.name == "cleanlab" else d.name,
                  **evaluate(d, flipped)} for d in trial_detectors(store, t)]
    for _, results in sorted(kfold.items()):
        rows.append({"method": "cleanlab (K-fold)",
                     **evaluate(kfold_detector(store.train_labels, results[:1]), flipped)})
    repeated = kfold.get(main_folds, [])
    for r in range(2, len(repeated) + 1):
        rows.append({"method": f"cleanlab (repeated {main_folds}-fold)",
                     **evaluate(kfold_detector(store.train_labels, repeated[:r]), flipped)})
    return rows


def first_reaching(rows: Sequence[dict[str, Any]], level: float, metric: str = "auroc"
                   ) -> dict[str, int | None]:
    """Per method, the fewest models at which ``metric`` >= ``level`` (None: never)."""
    methods = dict.fromkeys(row["method"] for row in rows)
    out: dict[str, int | None] = {}
    for method in methods:
        costs = [row["models"] for row in rows
                 if row["method"] == method and row[metric] >= level]
        out[method] = min(costs) if costs else None
    return out
