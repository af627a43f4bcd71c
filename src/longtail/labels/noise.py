"""Label noise (beyond the paper): how well memorization estimates find flipped labels.

The paper observes that examples with memorization near 1 are "atypical, highly ambiguous or
mislabeled" (Section 3). A study with ``label_noise > 0`` knows which training labels were
flipped, so mem~ can be scored as a detector of them: the AUROC (the probability that a flipped
example has a higher mem~ than a clean one, ties counting one half), precision at k = number
flipped, average precision and the precision-recall curve. NaN estimates (examples with too few
trials in or out) rank below every other score.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import rankdata


def _scores(scores: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for ``positive`` (n,) bool: the Mann-Whitney U
    statistic over n_pos * n_neg, with tied scores counted one half (mid-ranks)."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return math.nan
    ranks = rankdata(_scores(scores), method="average")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_k(scores: np.ndarray, positive: np.ndarray, k: int) -> float:
    """Fraction of positives among the ``k`` highest scores. Examples tied with the k-th score
    fill the remaining places in expectation (as under a random order of ties)."""
    positive = np.asarray(positive, dtype=bool)
    s = _scores(scores)
    if not 1 <= k <= len(s):
        raise ValueError(f"k = {k} is outside 1..{len(s)}")
    kth = np.sort(s)[::-1][k - 1]
    above, tied = s > kth, s == kth
    hits = positive[above].sum() + (k - above.sum()) * positive[tied].mean()
    return float(hits / k)


def precision_recall_curve(scores: np.ndarray, positive: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, threshold) when flagging every example with score >= threshold,
    for each distinct score from the highest down (tied examples enter together)."""
    positive = np.asarray(positive, dtype=bool)
    s = _scores(scores)
    order = np.argsort(-s, kind="stable")
    s, hits = s[order], positive[order]
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # end of each run of ties
    tp = np.cumsum(hits)[last]
    flagged = last + 1
    total = max(int(positive.sum()), 1)
    return tp / flagged, tp / total, s[last]


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Sum over thresholds of precision times the recall gained (the step-wise area under the
    precision-recall curve)."""
    precision, recall, _ = precision_recall_curve(scores, positive)
    if not np.asarray(positive, bool).any():
        return math.nan
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def label_noise_metrics(mem: np.ndarray, flipped: np.ndarray) -> dict[str, Any]:
    """mem~ as a detector of flipped labels: AUROC, precision at k = number flipped, average
    precision and the mean mem~ of flipped and clean examples."""
    flipped = np.asarray(flipped, dtype=bool)
    mem = np.asarray(mem, dtype=np.float64)
    if mem.shape != flipped.shape:
        raise ValueError(f"mem {mem.shape} and flipped {flipped.shape} differ in shape")
    k = int(flipped.sum())
    if not k:
        raise ValueError("no training label was flipped (label_noise = 0): nothing to detect")
    return {"n": len(mem), "n_flipped": k, "fraction_flipped": k / len(mem),
            "auroc": auroc(mem, flipped), "precision_at_k": precision_at_k(mem, flipped, k),
            "k": k, "average_precision": average_precision(mem, flipped),
            "mem_flipped_mean": float(np.nanmean(mem[flipped])),
            "mem_clean_mean": float(np.nanmean(mem[~flipped])),
            "n_mem_undefined": int(np.isnan(mem).sum())}


# ---------------------------------------------------------------- detectors compared

DETECTORS = {
    "mem": "mem~ = p_in - p_out (Alg. 1 line 5)",
    "inconsistency": "1 - p_out (held-out models disagree with the label)",
}


def detector_scores(mem: np.ndarray, p_out: np.ndarray | None) -> dict[str, np.ndarray]:
    """The detectors of :data:`DETECTORS` a study's estimates allow: mem~ always, 1 - p_out
    (one minus the empirical consistency score) when p_out is stored."""
    scores = {"mem": np.asarray(mem, dtype=np.float64)}
    if p_out is not None:
        scores["inconsistency"] = 1.0 - np.asarray(p_out, dtype=np.float64)
    return scores


def suggested_label_recovery(suggested: np.ndarray | None, flipped: np.ndarray,
                             original: np.ndarray) -> dict[str, Any]:
    """How often the suggested label (the class held-out models predict most often) of a
    flipped example is its original label: count and share of the flipped examples."""
    flipped = np.asarray(flipped, dtype=bool)
    if suggested is None:
        return {"n_flipped_suggested": 0, "suggested_original": 0,
                "suggested_original_share": math.nan}
    suggested = np.asarray(suggested)
    known = flipped & (suggested >= 0)
    hits = int((suggested[known] == np.asarray(original)[known]).sum())
    return {"n_flipped_suggested": int(known.sum()), "suggested_original": hits,
            "suggested_original_share": hits / int(flipped.sum()) if flipped.any()
            else math.nan}


def compare_detectors(mem: np.ndarray, p_out: np.ndarray | None,
                      suggested: np.ndarray | None, flipped: np.ndarray,
                      original: np.ndarray) -> dict[str, Any]:
    """mem~'s metrics (:func:`label_noise_metrics`, unprefixed) plus each other detector's
    AUROC, precision at k and average precision (suffixed ``_<detector>``), the detector with
    the best AUROC, and the recovery of original labels by the suggested label."""
    flipped = np.asarray(flipped, dtype=bool)
    scores = detector_scores(mem, p_out)
    per = {name: label_noise_metrics(score, flipped) for name, score in scores.items()}
    out = dict(per["mem"])
    for name, metrics in per.items():
        if name != "mem":
            out.update({f"{key}_{name}": metrics[key]
                        for key in ("auroc", "precision_at_k", "average_precision")})
    best = max(per, key=lambda name: per[name]["auroc"])
    out.update({"best_detector": best, "best_auroc": per[best]["auroc"]})
    out.update(suggested_label_recovery(suggested, flipped, original))
    return out
