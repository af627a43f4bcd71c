"""The consistency figure: split-half Jaccard of the memorized sets and of the high-influence
pair sets against their thresholds (Section 2, "Selection of pairs"), the mean over R random
half-splits with its min-max band, with the target, the threshold used and the paper's point
(:data:`longtail.reporting.paper.CONSISTENCY_POINT`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from longtail.reporting import paper
from longtail.reporting.errors import ReportingError
from longtail.reporting.plots.style import COLORS, TEXT_WIDTH, new_figure

SETS = (("mem", "memorized set", "θ_mem"), ("infl", "pair set", "θ_infl"))


def _verdict(setting: Mapping[str, Any], target: float) -> str:
    jaccard = setting["jaccard"]
    shown = "undefined" if jaccard is None else f"{jaccard:.2f}"
    if setting["mode"] == "auto" and not setting["reached"]:
        return f"no grid value reaches {target:g}: {setting['used']:g} shown, does not replicate"
    reached = jaccard is not None and jaccard >= target
    ok = setting.get("replicates", reached)
    how = "auto" if setting["mode"] == "auto" else "fixed"
    few = f" (< {setting['min_size']:g} per half)" if reached and not ok else ""
    return (f"{how} {setting['used']:g}: Jaccard {shown}, "
            f"{'replicates' if ok else 'does not replicate'}{few}")


def draw_consistency(panels: Sequence[tuple[str, Mapping[str, Any]]]) -> Figure:
    """One row per study, (title, :func:`longtail.estimators.reliability.reliability` report):
    split-half Jaccard against θ_mem (left, memorized sets) and θ_infl (right, pair sets at the
    θ_mem used), the mean over the report's splits with a band from their min to their max (one
    split, reports written before ``splits``: the line alone), the target as a dashed line,
    the threshold used as a vertical line with the verdict in words, and the paper's point
    on the right."""
    if not panels:
        raise ReportingError("the consistency figure needs at least one study")
    fig = new_figure(TEXT_WIDTH, 2.6 * len(panels) + 0.3)
    rows = np.atleast_1d(fig.subfigures(len(panels), 1))
    for sub, (title, report) in zip(rows, panels, strict=True):
        sub.suptitle(title, fontsize=7.5)  # the study, once per row; each panel its verdict
        axes = sub.subplots(1, 2)
        target = report["target"]
        for column, (key, label, symbol) in enumerate(SETS):
            ax, setting = axes[column], report[key]
            table = setting["table"]
            x = np.array([r["threshold"] for r in table], float)
            y, low, high = (np.array([np.nan if r.get(k) is None else r[k] for r in table],
                                     float) for k in ("jaccard", "jaccard_min", "jaccard_max"))
            splits = report.get("splits", 1)
            if splits > 1:
                ax.fill_between(x, low, high, color=COLORS["random"], alpha=0.25, linewidth=0,
                                label=f"min-max over the {splits} splits")
            ax.plot(x, y, "o-", color=COLORS["random"], markersize=3,
                    label=f"split-half Jaccard, mean of {splits} random splits" if splits > 1
                    else "split-half Jaccard")
            ax.axhline(target, color=COLORS["full"], linestyle="--", linewidth=0.8,
                       label=f"target {target:g}")
            ax.axvline(setting["used"], color=COLORS["memorized"], linewidth=0.8,
                       label=f"{symbol} used")
            if key == "infl":
                ax.plot(*paper.CONSISTENCY_POINT, "*", color="black", markersize=8,
                        label="paper (CIFAR-100)")
            ax.set_ylim(0, 1.05)
            ax.set_xlabel(symbol)
            ax.set_ylabel(f"Jaccard, {label}")
            ax.set_title(_verdict(setting, target), fontsize=7)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, [text.replace("θ_infl ", "θ ") for text in labels],
               loc="outside lower center", ncol=min(len(labels), 3), fontsize=6.5,
               frameon=False)  # outside the axes: covers no data
    return fig
