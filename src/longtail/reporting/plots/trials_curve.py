"""The trials curve: split-half Jaccard of a study's selections against t (the trials curve of
:mod:`longtail.estimators.trials_curve`), a line per θ_infl for the pairs and one for the
memorized set, the target drawn, and `longtail plan`'s forecasts marked where the curve does
not reach it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from longtail.reporting.errors import ReportingError
from longtail.reporting.plots.style import COLORS, TEXT_WIDTH, new_figure


def draw_trials_curve(title: str, curve: pd.DataFrame, target: float,
                      forecasts: Sequence[Mapping[str, Any]] = ()) -> Figure:
    """Left: the split-half Jaccard against t (log scale), a line per θ_infl for the pairs
    and a black one for the memorized set, the target dashed, and the forecasts of the pairs
    that have not reached it (t needed with its interval) as diamonds at the target. Right:
    the mean pairs per half against t, in the same colours."""
    if curve.empty:
        raise ReportingError(f"{title}: the trials curve has no rows")
    fig = new_figure(TEXT_WIDTH, 2.8)
    jaccard_ax, size_ax = fig.subplots(1, 2)
    pairs = curve[curve["set"] == "pairs"]
    values = sorted(pairs["infl"].unique())
    cmap = mpl.colormaps["viridis"]
    colors = {v: cmap(k / max(len(values) - 1, 1)) for k, v in enumerate(values)}
    for value in values:
        rows = pairs[np.isclose(pairs["infl"], value)].sort_values("t")
        jaccard_ax.plot(rows["t"], rows["jaccard"], "o-", color=colors[value], markersize=2.5,
                        linewidth=0.9, label=f"pairs, θ_infl {value:g}")
        size_ax.plot(rows["t"], (rows["size_a"] + rows["size_b"]) / 2, "o-",
                     color=colors[value], markersize=2.5, linewidth=0.9)
    memorized = curve[curve["set"] == "memorized"].sort_values("t")
    if len(memorized):
        jaccard_ax.plot(memorized["t"], memorized["jaccard"], "s-", color="black",
                        markersize=2.5, linewidth=1.1,
                        label=f"memorized set, θ_mem {memorized['mem'].iloc[0]:g}")
    jaccard_ax.axhline(target, color=COLORS["full"], linestyle="--", linewidth=0.8,
                       label=f"target {target:g}")
    for plan in forecasts:
        if plan["set"] != "pairs" or plan["reached"] or plan["trials_needed"] is None:
            continue
        color = colors.get(min(values, key=lambda v: abs(v - plan["infl"])), "gray")
        jaccard_ax.errorbar(plan["trials_needed"], target,
                            xerr=[[plan["trials_needed"] - plan["low"]],
                                  [plan["high"] - plan["trials_needed"]]],
                            fmt="D", color=color, markersize=4, capsize=2, linewidth=0.8)
    splits = int(curve["jaccard_splits"].max())
    for ax in (jaccard_ax, size_ax):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("trials t (the first t of the study)")
    jaccard_ax.set_ylim(0, 1.02)
    jaccard_ax.set_ylabel("split-half Jaccard")
    jaccard_ax.set_title(f"agreement of the two halves' selections (mean of {splits} splits)",
                         fontsize=7)
    size_ax.set_yscale("log")
    size_ax.set_ylabel("pairs per half (mean)")
    size_ax.set_title("pairs selected per half", fontsize=7)
    fig.suptitle(f"{title}\nthe trials curve; diamonds: `longtail plan`'s forecast",
                 fontsize=7.5)
    fig.legend(*jaccard_ax.get_legend_handles_labels(), loc="outside lower center",
               ncol=4, fontsize=6, frameon=False)
    return fig
