"""Label-error detectors side by side (:mod:`longtail.labels.detectors`): one table and one figure
of precision-recall curves per noise study, and the table of training cost against quality."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from longtail.labels.detectors import (
    cost_curve,
    evaluate,
    first_reaching,
    pr_curve,
    side_by_side,
)
from longtail.labels.kfold import KFoldResult, read_kfold
from longtail.reporting.errors import ReportingError
from longtail.reporting.plots.style import TEXT_WIDTH, figure_style, save_figure
from longtail.reporting.tables import to_markdown
from longtail.store.correctness import read_store
from longtail.store.io import write_csv, write_text

PathLike = str | os.PathLike
LEVELS = (0.95, 0.97)  # the AUROC each method's cost is read at
DETECTOR_NOTES = (
    "Ranking (AUROC, average precision, precision at k = number flipped): mem~ = p_in - p_out; "
    "1 - p_out; cleanlab: 1 - get_label_quality_scores(labels, pred_probs) (self-confidence, "
    "cleanlab's default; on vote shares it equals p_out, so it ranks as 1 - p_out does, but for "
    "examples no trial held out: mem~ and 1 - p_out are undefined there and rank last, while "
    "cleanlab gets a uniform row, 1 - 1/C; about 0.7^t of the examples, 5.8% at t = 8). "
    "Flagged set: mem~ >= 0.5; p_out < 0.5; cleanlab: find_label_issues(labels, pred_probs) "
    "with its defaults. Models: networks trained (t trials on m examples each, or K models on "
    "n (K - 1) / K each).",
)


def _write_csv_md(numbers: pd.DataFrame, display: pd.DataFrame, csv: PathLike, md: PathLike,
                  title: str, notes: Sequence[str]) -> None:
    write_csv(csv, numbers, float_format="%.6g")
    write_text(md, to_markdown(display, title, notes))


def _read_kfolds(paths: Sequence[PathLike]) -> dict[int, list[KFoldResult]]:
    """K-fold files grouped by K, each group in repeat order."""
    groups: dict[int, list[KFoldResult]] = {}
    for path in paths:
        result = read_kfold(path)
        groups.setdefault(int(result.attrs["folds"]), []).append(result)
    return {k: sorted(v, key=lambda r: int(r.attrs["repeat"])) for k, v in groups.items()}


def _pct(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def detectors_display(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "detector": table["detector"], "probabilities": table["probabilities"],
        "models": table["models"], "AUROC": table["auroc"].map("{:.3f}".format),
        "average precision": table["average_precision"].map("{:.3f}".format),
        "precision at k": table["precision_at_k"].map("{:.3f}".format),
        "flagged": table["n_flagged"],
        "flagged precision": table["flagged_precision"].map(_pct),
        "flagged recall": table["flagged_recall"].map(_pct)})


def make_detectors(study: str, store_path: PathLike, kfold_paths: Sequence[PathLike],
                   out: Mapping[str, PathLike]) -> pd.DataFrame:
    """tables/detectors_<study>.{csv,md} and figures/detectors_<study>.{pdf,png}."""
    store = read_store(store_path)
    flipped = store.train_label_flipped
    if not flipped.any():
        raise ReportingError(f"{store_path}: study {study} flipped no label; nothing to "
                             f"detect (detectors.studies lists studies with label_noise)")
    kfolds = [r for group in _read_kfolds(kfold_paths).values() for r in group[:1]]
    detectors = side_by_side(store, kfolds)
    table = pd.DataFrame([{"study": study, **evaluate(d, flipped)} for d in detectors])
    k = int(flipped.sum())
    _write_csv_md(table, detectors_display(table), out["csv"], out["md"],
                  f"Finding the {k:,} flipped labels of {study} (n = {len(flipped):,})",
                  DETECTOR_NOTES)
    with figure_style():
        fig = Figure(figsize=(TEXT_WIDTH * 0.6, TEXT_WIDTH * 0.45))
        ax = fig.add_subplot()
        for detector, row in zip(detectors, table.itertuples(), strict=True):
            precision, recall = pr_curve(detector, flipped)
            ax.plot(np.r_[0.0, recall], np.r_[precision[0], precision], lw=1.2,
                    label=f"{detector.name}, {detector.probabilities} "
                          f"(AP {row.average_precision:.3f})")
        ax.axhline(k / len(flipped), color="0.6", lw=0.8, ls=":", label="chance")
        ax.set(xlabel="recall (share of flipped labels found)", ylabel="precision",
               xlim=(0, 1), ylim=(0, 1.02), title=study)
        ax.legend(fontsize=6, loc="lower left")
        fig.tight_layout()
        save_figure(fig, out["pdf"], out["png"])
    return table


def cost_display(first: pd.DataFrame) -> pd.DataFrame:
    def cell(value: Any) -> str:
        return "not reached" if value is None or pd.isna(value) else f"{int(value)}"
    out = first[["study", "method"]].copy()
    for level in LEVELS:
        out[f"models to AUROC {level}"] = first[f"models_auroc_{level}"].map(cell)
    out["best AUROC (models)"] = [f"{a:.3f} ({int(m)})" for a, m in
                                  zip(first["best_auroc"], first["best_models"], strict=True)]
    return out


def make_detector_cost(studies: Sequence[str], stores: Sequence[PathLike],
                       kfold_paths: Sequence[Sequence[PathLike]], trials: Sequence[int],
                       main_folds: int, csv: PathLike, md: PathLike,
                       curve_csv: PathLike | None = None) -> pd.DataFrame:
    """tables/detector_cost.{csv,md}: AUROC and AP against models trained (``csv``: one row
    per study, method and number of models) and, per study and method, the fewest models at
    which AUROC first reaches each of :data:`LEVELS` (``md``, and ``curve_csv`` if given)."""
    curves, firsts = [], []
    for study, store_path, paths in zip(studies, stores, kfold_paths, strict=True):
        store = read_store(store_path)
        usable = [t for t in trials if t <= len(store.trials.trial)]
        rows = cost_curve(store, usable, _read_kfolds(paths), main_folds)
        curves += [{"study": study, **row} for row in rows]
        reached = {level: first_reaching(rows, level) for level in LEVELS}
        for method in reached[LEVELS[0]]:
            mine = [row for row in rows if row["method"] == method]
            best = max(mine, key=lambda row: row["auroc"])
            firsts.append({"study": study, "method": method,
                           **{f"models_auroc_{level}": reached[level][method]
                              for level in LEVELS},
                           "best_auroc": best["auroc"], "best_models": best["models"]})
    curve = pd.DataFrame(curves)
    first = pd.DataFrame(firsts)
    write_csv(csv, curve, float_format="%.6g")
    points = curve.assign(point=[f"{a:.3f} / {p:.3f}" for a, p in
                                 zip(curve["auroc"], curve["average_precision"], strict=True)])
    wide = points.pivot_table(index=["study", "method"], columns="models", values="point",
                              aggfunc="first", sort=False)
    wide = wide[sorted(wide.columns)].reset_index().fillna("")
    wide.columns = [f"{c} models" if isinstance(c, int | np.integer) else c
                    for c in wide.columns]
    write_text(md, (
            to_markdown(cost_display(first), "Training cost at which each detector first "
                        "reaches AUROC " + " / ".join(f"{level:g}" for level in LEVELS), [
                            "Models: networks trained. Trial-based methods use the first t "
                            "trials (each on its subset of m examples); cleanlab (K-fold) "
                            "one K-fold split (K models on n (K - 1) / K each); repeated "
                            "K-fold averages the out-of-fold probabilities of r splits (K r "
                            "models)."])
            + "\n" + to_markdown(wide, "AUROC / average precision against models trained",
                                 DETECTOR_NOTES)))
    if curve_csv is not None:
        write_csv(curve_csv, first)
    return curve
