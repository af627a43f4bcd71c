"""The last-layer-only estimates (Section 3) for people: ``tables/lastlayer.{csv,md}`` (one
column per study beside the paper's numbers) and Fig. C.3, from what
:mod:`longtail.train.lastlayer` computes."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from longtail.estimators.estimates import read_estimates
from longtail.reporting import paper
from longtail.reporting.plots.comparison import (
    INFL_EDGES,
    LastLayerPanel,
    draw_figC3,
    joint_counts,
)
from longtail.reporting.plots.style import figure_style, save_figure
from longtail.reporting.tables import to_markdown, write_markdown
from longtail.store.io import write_csv
from longtail.train.lastlayer import LastLayerInputs, lastlayer_summary, same_class_influence_pairs

MARKDOWN_ROWS = {
    "full_model_test_accuracy": "test accuracy, full model (all n examples)",
    "subset_models_test_accuracy": "test accuracy, subset models",
    "linear_models_test_accuracy": "test accuracy, linear models on the representation",
    "memorized_subset_models": "examples with mem~ ≥ {mem}, subset models",
    "memorized_linear_models": "examples with mem~ ≥ {mem}, linear models",
    "memorized_both": "examples with mem~ ≥ {mem}, both",
    "mem_pearson": "Pearson correlation of mem~",
    "mem_spearman": "Spearman correlation of mem~",
    "pairs_subset_models": "high-influence pairs, subset models",
    "pairs_linear_models": "high-influence pairs, linear models",
    "pairs_both": "high-influence pairs, both",
    "seconds_per_subset_model": "seconds per subset model",
    "seconds_per_linear_model": "seconds per linear model",
    "speed_ratio": "speed-up per model (subset / linear)",
    "representation_seconds": "seconds for the representation (train once + extract)",
    "total_speed_ratio": "speed-up overall (subset models / representation + linear models)",
}


def tabulate_lastlayer(rows: list[dict[str, Any]], out_csv: str | os.PathLike,
                       out_md: str | os.PathLike) -> pd.DataFrame:
    """``tables/lastlayer.csv`` (one row per study) and ``tables/lastlayer.md`` (one column
    per study and the paper's numbers, one row per reported number)."""
    table = pd.DataFrame(rows)
    write_csv(out_csv, table, float_format="%.6g")
    mem, infl = table["mem_threshold"].iloc[0], table["infl_threshold"].iloc[0]
    column = paper.LASTLAYER_COLUMN
    shown = pd.DataFrame({"": [label.format(mem=f"{mem:g}") for label in MARKDOWN_ROWS.values()],
                          **{row["study"]: [_cell(key, row) for key in MARKDOWN_ROWS]
                             for row in rows},
                          column: [paper.LASTLAYER.get(key, "—") for key in MARKDOWN_ROWS]})
    notes = [
        "The study's architecture trained once on all training examples with the study's "
        "recipe; per trial a fresh linear classifier on its penultimate representation, on the "
        "same subsets I_k as the study's own models. Accuracies: mean ± std over the trials.",
        f"Pairs: mem~ ≥ {mem:g}, infl~ ≥ {infl:g}, y_i = y'_j (Section 2). Times are wall-clock "
        "seconds per model as trained here (models trained together as a batch share its "
        "time); the overall speed-up charges the representation to the last-layer estimator.",
        f"The {column} column quotes Section 3 of Feldman & Zhang (2020); '—' where it gives "
        "no number."]
    write_markdown(to_markdown(shown, "Last-layer-only estimates (Section 3, \"Does the last "
                                      "layer suffice for memorization?\")", notes), out_md)
    return table


def _cell(key: str, row: Mapping[str, Any]) -> str:
    value = row[key]
    if key.endswith("_accuracy") and f"{key}_sd" in row:
        return f"{100 * value:.2f}% ± {100 * row[key + '_sd']:.2f}"
    if key.endswith("_accuracy"):
        return f"{100 * value:.2f}%"
    if key.endswith("ratio"):
        return f"{value:.1f}x"
    if isinstance(value, float):
        return f"{value:.3f}" if "pearson" in key or "spearman" in key else f"{value:.3g}"
    return str(value)


def joint_histogram(pairs: Iterator[tuple[np.ndarray, np.ndarray]], edges: np.ndarray
                    ) -> np.ndarray:
    """Counts (len(edges) - 1, len(edges) - 1) of (x, y) values in the square bins ``edges``,
    accumulated over blocks (:func:`longtail.reporting.plots.comparison.joint_counts` of each);
    values outside [edges[0], edges[-1]] are clipped in."""
    counts = np.zeros((len(edges) - 1, len(edges) - 1), np.int64)
    for x, y in pairs:
        counts += joint_counts(x, y, edges)
    return counts


def tabulate_lastlayer_files(studies: list[str], files: Mapping[str, list[str]],
                             mem_threshold: float, infl_threshold: float,
                             out_csv: str | os.PathLike, out_md: str | os.PathLike
                             ) -> pd.DataFrame:
    """Stage: ``files[field]`` lists, per study in ``studies``, the file of each
    :class:`LastLayerInputs` field; summarise every study and write the tables."""
    rows = []
    for k, study in enumerate(studies):
        paths = LastLayerInputs(**{name: files[name][k]
                                   for name in LastLayerInputs.__dataclass_fields__})
        rows.append(lastlayer_summary(study, paths, mem_threshold, infl_threshold))
    return tabulate_lastlayer(rows, out_csv, out_md)


def make_figC3(studies: list[str], full_estimates: list[str], linear_estimates: list[str],
               table_csv: str | os.PathLike, out_pdf: str | os.PathLike,
               out_png: str | os.PathLike) -> None:
    """Stage: Fig. C.3 from both estimates of every study and ``tables/lastlayer.csv``."""
    table = pd.read_csv(table_csv).set_index("study")
    panels = []
    for study, full, linear in zip(studies, full_estimates, linear_estimates, strict=True):
        infl = joint_histogram(same_class_influence_pairs(full, linear), INFL_EDGES)
        panels.append(LastLayerPanel(study, read_estimates(full).mem,
                                     read_estimates(linear).mem, infl,
                                     table.loc[study].to_dict()))
    with figure_style():
        save_figure(draw_figC3(panels), out_pdf, out_png)
