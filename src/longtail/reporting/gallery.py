"""The report's galleries of a study: per class the most memorized training examples (mem ± se
and, where recorded, the label the models trained without them suggest) and one page of the
strongest high-influence pairs. Drawing is :mod:`longtail.reporting.plots.gallery`'s job."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from longtail.config.schema import schema_default
from longtail.data import StudyData, load_study_data
from longtail.estimators.estimates import Estimates, read_estimates
from longtail.reporting.plots.gallery import draw_row_gallery
from longtail.reporting.plots.style import figure_style
from longtail.store.io import atomic_path

DEFAULT_EXAMPLES = schema_default("galleries", "examples")
DEFAULT_PAIRS = schema_default("galleries", "pairs")


def _name(classes: list[str], label: int) -> str:
    return classes[label] if 0 <= label < len(classes) else str(label)


def most_memorized(estimates: Estimates, label: int, k: int) -> np.ndarray:
    """Training examples of class ``label`` with the k highest (finite) mem, highest first."""
    members = np.flatnonzero((estimates.train_labels == label) & np.isfinite(estimates.mem))
    order = np.lexsort((members, -estimates.mem[members]))
    return members[order[:k]]


def class_rows(estimates: Estimates, data: StudyData, suggested: np.ndarray | None, label: int,
               k: int) -> list[tuple[str, list[np.ndarray], list[str]]]:
    """The gallery row of one class: its k most memorized training examples."""
    index = most_memorized(estimates, label, k)
    titles = []
    for i in index:
        title = f"{i}\nmem {estimates.mem[i]:.2f} ± {estimates.mem_se[i]:.2f}"
        if suggested is not None and suggested[i] >= 0:
            title += f"\nsuggests {_name(data.classes, int(suggested[i]))}"
        titles.append(title)
    heading = f"class {label} ({_name(data.classes, label)}): most memorized training examples"
    return [(heading, list(data.x_train[index]), titles)]


def pair_rows(pairs: pd.DataFrame, data: StudyData, k: int
              ) -> list[tuple[str, list[np.ndarray], list[str]]]:
    """One row per pair among the k with the highest influence: training then test image."""
    top = pairs.sort_values(["infl", "train_index", "test_index"],
                            ascending=[False, True, True]).head(k)
    rows = []
    for _, pair in top.iterrows():
        i, j = int(pair["train_index"]), int(pair["test_index"])
        label = _name(data.classes, int(pair["label"]))
        rows.append((f"{label}: infl {pair['infl']:.2f} ± {pair['infl_se']:.2f}",
                     [data.x_train[i], data.x_test[j]],
                     [f"train {i}\nmem {pair['mem']:.2f}", f"test {j}"]))
    return rows


def write_galleries(estimates_path: str | os.PathLike, data_path: str | os.PathLike,
                    pairs_path: str | os.PathLike, classes_dir: str | os.PathLike,
                    pairs_png: str | os.PathLike, examples: int = DEFAULT_EXAMPLES,
                    pairs: int = DEFAULT_PAIRS) -> list[Path]:
    """One PNG per class (``classes_dir/class_<label>.png``) and the pairs page; returns the
    class PNGs written."""
    estimates = read_estimates(estimates_path)
    data = load_study_data(data_path)
    suggested = estimates.suggested_label
    classes_dir = Path(classes_dir)
    classes_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with figure_style():
        for label in np.unique(estimates.train_labels):
            rows = class_rows(estimates, data, suggested, int(label), examples)
            path = classes_dir / f"class_{int(label):04d}.png"
            _save(draw_row_gallery(rows), path)
            written.append(path)
        page = pair_rows(pd.read_csv(pairs_path), data, pairs) or \
            [("no high-influence pairs at these thresholds", [], [])]
        _save(draw_row_gallery(page), pairs_png)
    return written


def _save(fig: Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
