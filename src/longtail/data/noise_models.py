"""Class-conditional label noise: a transition matrix, or flips to the most confusable class.

A study's ``label_noise`` is either a rate (symmetric noise, :func:`longtail.data.flip_labels`:
each flipped label moves to one of the other classes uniformly) or one of:

* ``{kind: matrix, matrix: [[...]]}``: row ``c`` of the row-stochastic matrix is the
  distribution of the noisy label of an example of clean class ``c`` (the diagonal keeps it);
* ``{kind: confusable, rate: r}``: round(r * n) seeded examples flip to the class that a
  cheap reference classifier most confuses theirs with (:func:`confusable_classes`: a ridge
  regression on pixels, cross-fitted over two halves, its off-diagonal confusion argmax per
  class). The mapping is recorded with the study's data.

Pure numpy; the data layer calls :func:`apply_label_noise` with the study's noise stream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from longtail.errors import LongtailError

RIDGE = 1.0  # the reference classifier's L2 penalty (on pixels scaled to [0, 1])
MATRIX_TOL = 1e-6  # how far a row of a transition matrix may sum from 1


class NoiseModelError(LongtailError, ValueError):
    """A label-noise specification that cannot be applied (message names the bad part)."""


def noise_kind(spec: Any) -> str:
    """``symmetric`` for a rate, else the mapping's ``kind``."""
    return "symmetric" if not isinstance(spec, Mapping) else str(spec["kind"])


def noise_rate(spec: Any, num_classes: int | None = None) -> float:
    """The expected fraction of flipped labels: the rate itself, or for a matrix the mean
    off-diagonal mass of its rows (classes taken as equally frequent)."""
    if not isinstance(spec, Mapping):
        return float(spec or 0.0)
    if spec["kind"] == "matrix":
        matrix = np.asarray(spec["matrix"], dtype=np.float64)
        return float(1.0 - np.mean(np.diag(matrix)))
    return float(spec["rate"])


def describe_noise(spec: Any) -> str:
    """A few words for provenance: ``10% symmetric``, ``10% to the most confusable class``."""
    kind, rate = noise_kind(spec), noise_rate(spec)
    if not rate:
        return "none"
    return {"symmetric": f"{rate:.0%} symmetric",
            "confusable": f"{rate:.0%} to the most confusable class",
            "matrix": f"transition matrix ({rate:.0%} off-diagonal on average)"}[kind]


def check_matrix(matrix: Any, num_classes: int | None = None) -> np.ndarray:
    """The matrix as float64 (C, C); NoiseModelError naming the first bad row (negative entry
    or a sum other than 1) or the shape."""
    try:
        m = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise NoiseModelError("label_noise.matrix is not a rectangular list of numbers") from None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise NoiseModelError(f"label_noise.matrix has shape {m.shape}; it must be C x C, "
                              "C >= 2 (row c: the noisy label's distribution for class c)")
    if num_classes is not None and m.shape[0] != num_classes:
        raise NoiseModelError(f"label_noise.matrix is {m.shape[0]} x {m.shape[0]}, but the "
                              f"dataset has {num_classes} classes")
    for c, row in enumerate(m):
        if not np.all(np.isfinite(row)) or (row < 0).any():
            raise NoiseModelError(f"label_noise.matrix row {c} ({row.tolist()}) has a "
                                  "negative or non-finite entry")
        if abs(row.sum() - 1.0) > MATRIX_TOL:
            raise NoiseModelError(f"label_noise.matrix row {c} sums to {row.sum():.6g}, not 1 "
                                  "(the matrix must be row-stochastic)")
    return m


def flip_by_matrix(labels: np.ndarray, matrix: np.ndarray, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each label c redrawn from row c of ``matrix`` (one uniform draw per example, by inverse
    CDF). Returns the noisy labels and the mask of examples whose label changed."""
    labels = np.asarray(labels, dtype=np.int64)
    cdf = np.cumsum(matrix, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(labels))
    noisy = (u[:, None] >= cdf[labels]).sum(axis=1).astype(np.int64)
    return noisy, noisy != labels


def ridge_predictions(x_fit: np.ndarray, y_fit: np.ndarray, x: np.ndarray, num_classes: int,
                      ridge: float = RIDGE) -> np.ndarray:
    """Classes a ridge regression of one-hot labels on pixels (with intercept) predicts for
    ``x``: solved in the dual (n x n) when n < d, else in the primal."""
    x_fit = np.asarray(x_fit, dtype=np.float64).reshape(len(x_fit), -1)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    mean = x_fit.mean(axis=0)
    xc, target = x_fit - mean, np.eye(num_classes)[y_fit]
    offset = target.mean(axis=0)
    if len(xc) < xc.shape[1]:
        alpha = np.linalg.solve(xc @ xc.T + ridge * np.eye(len(xc)), target - offset)
        weights = xc.T @ alpha
    else:
        weights = np.linalg.solve(xc.T @ xc + ridge * np.eye(xc.shape[1]), xc.T @ (target - offset))
    return np.argmax((x - mean) @ weights + offset, axis=1)


def confusable_classes(images: np.ndarray, labels: np.ndarray, num_classes: int,
                       ridge: float = RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """(mapping (C,), confusion (C, C)): a ridge classifier on pixels, fitted on the even
    positions and predicting the odd ones and vice versa (cross-fitted, deterministic); the
    confusion counts true class (row) against prediction, and ``mapping[c]`` is the class other
    than c that examples of c are most often predicted as (the lowest such class on ties)."""
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1) / 255.0
    labels = np.asarray(labels, dtype=np.int64)
    halves = np.arange(len(labels)) % 2
    predicted = np.empty(len(labels), dtype=np.int64)
    for half in (0, 1):
        fit, held = halves != half, halves == half
        predicted[held] = ridge_predictions(x[fit], labels[fit], x[held], num_classes, ridge)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    return most_confused(confusion), confusion


def most_confused(confusion: np.ndarray) -> np.ndarray:
    """Per row, the argmax off the diagonal (ties: the lowest class)."""
    off = np.array(confusion, dtype=np.float64, copy=True)
    np.fill_diagonal(off, -np.inf)
    return np.argmax(off, axis=1).astype(np.int64)


def flip_to_mapping(labels: np.ndarray, mapping: np.ndarray, rate: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flip round(rate * n) examples chosen by ``rng`` to ``mapping[label]``."""
    labels = np.asarray(labels, dtype=np.int64)
    if not 0 <= rate < 1:
        raise NoiseModelError(f"label_noise.rate = {rate} is outside [0, 1)")
    chosen = rng.choice(len(labels), size=round(rate * len(labels)), replace=False)
    noisy = labels.copy()
    noisy[chosen] = np.asarray(mapping, dtype=np.int64)[labels[chosen]]
    flipped = np.zeros(len(labels), dtype=np.bool_)
    flipped[chosen] = True
    if (noisy[chosen] == labels[chosen]).any():
        raise NoiseModelError("the confusable mapping sends a class to itself")
    return noisy, flipped


def apply_class_noise(spec: Mapping[str, Any], images: np.ndarray, labels: np.ndarray,
                      num_classes: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(noisy labels, flipped mask, record) of a class-conditional ``spec``; the record (for
    the data file's attributes) holds the kind, the matrix or the rate, and the mapping."""
    kind = spec.get("kind")
    if kind == "matrix":
        matrix = check_matrix(spec["matrix"], num_classes)
        noisy, flipped = flip_by_matrix(labels, matrix, rng)
        return noisy, flipped, {"kind": "matrix", "matrix": matrix.tolist()}
    if kind == "confusable":
        mapping, confusion = confusable_classes(images, labels, num_classes)
        noisy, flipped = flip_to_mapping(labels, mapping, float(spec["rate"]), rng)
        return noisy, flipped, {"kind": "confusable", "rate": float(spec["rate"]),
                                "mapping": mapping.tolist(), "reference": "ridge on pixels, "
                                f"2-fold cross-fitted, penalty {RIDGE}",
                                "reference_confusion": confusion.tolist()}
    raise NoiseModelError(f"label_noise.kind = {kind!r}; allowed: matrix, confusable")


def noise_record_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True)
