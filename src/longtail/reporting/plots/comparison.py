"""How much the estimates depend on the model: Fig. C.3 (full-model vs last-layer-only
estimates, Section 3) and the cross-architecture comparison (Sec. C). Arrays and tables in, a
Figure out, in the project's style (:mod:`longtail.reporting.plots.style`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from longtail.reporting.errors import ReportingError
from longtail.reporting.plots.style import COLORS, TEXT_WIDTH, new_figure, study_colors

# Bins of width 0.025 centred on multiples of 0.025, so the common estimates 0 and 1 fall in
# the middle of a bin rather than on an edge.
MEM_EDGES = (np.arange(-12, 42) - 0.5) * 0.025
INFL_EDGES = (np.arange(-16, 42) - 0.5) * 0.025
ACROSS = {"same trials": (COLORS["pairs"], "-"), "across halves": (COLORS["random"], "--")}


def joint_counts(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """2-D histogram of (x, y) over the square bins ``edges``, for the entries where both are
    defined; values outside the edges are clipped into the outer bins."""
    both = np.isfinite(x) & np.isfinite(y)
    x, y = (np.clip(np.asarray(v)[both], edges[0], edges[-1]) for v in (x, y))
    return np.histogram2d(x, y, bins=(edges, edges))[0].astype(np.int64)


def _joint(ax: Axes, counts: np.ndarray, edges: np.ndarray, xlabel: str, ylabel: str,
           threshold: float) -> None:
    """A 2-D histogram (log colour), the diagonal and the selection threshold on both axes."""
    shown = np.ma.masked_equal(counts.T.astype(float), 0)
    mesh = ax.pcolormesh(edges, edges, shown, cmap="viridis", rasterized=True,
                         norm=LogNorm(vmin=1, vmax=max(int(counts.max()), 2)))
    cax = ax.inset_axes((1.03, 0.0, 0.04, 1.0))  # as tall as the (square) axes
    ax.figure.colorbar(mesh, cax=cax, label="examples" if "mem" in xlabel else "pairs")
    ax.plot(edges[[0, -1]], edges[[0, -1]], color=COLORS["full"], lw=0.6)
    ax.axvline(threshold, color=COLORS["pairs"], ls="--", lw=0.8)
    ax.axhline(threshold, color=COLORS["pairs"], ls="--", lw=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=edges[[0, -1]], ylim=edges[[0, -1]])
    ax.set_box_aspect(1)
    ax.grid(False)


def _note(ax: Axes, text: str) -> None:
    ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", fontsize=6.5,
            bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0, "pad": 1.5})


def _mem_joint(ax: Axes, mem_x: np.ndarray, mem_y: np.ndarray, xlabel: str, ylabel: str,
               threshold: float, pearson: float, spearman: float) -> None:
    """The joint histogram of two mem estimates of the same examples, with their correlation."""
    _joint(ax, joint_counts(mem_x, mem_y, MEM_EDGES), MEM_EDGES, xlabel, ylabel, threshold)
    _note(ax, f"Pearson {pearson:.2f}\nSpearman {spearman:.2f}")


def _rows(count: int, width: float, empty: str) -> tuple[Figure, np.ndarray]:
    """A figure of ``count`` rows of three square panels; ValueError ``empty`` for none."""
    if not count:
        raise ReportingError(empty)
    fig = new_figure(width, 3.0 * count)
    return fig, fig.subplots(count, 3, squeeze=False)


@dataclass
class LastLayerPanel:
    """One study's Fig. C.3 row: mem under the full and the linear models, the 2-D histogram
    (over ``INFL_EDGES``) of the same-class influences under both, and its summary row."""

    study: str
    mem_full: np.ndarray
    mem_linear: np.ndarray
    infl_counts: np.ndarray
    summary: Mapping[str, Any]


def draw_figC3(panels: Sequence[LastLayerPanel]) -> Figure:
    """Fig. C.3: the discrepancy between full-model and last-layer-only estimates. Per study:
    mem (full) vs mem (linear), same-class infl vs infl, and the two distributions of mem."""
    fig, axes = _rows(len(panels), TEXT_WIDTH + 1.0, "Fig. C.3 needs at least one study")
    for row, panel in zip(axes, panels, strict=True):
        s = panel.summary
        mem_t, infl_t = s["mem_threshold"], s["infl_threshold"]
        _mem_joint(row[0], panel.mem_full, panel.mem_linear, "mem~, full models",
                   "mem~, linear models", mem_t, s["mem_pearson"], s["mem_spearman"])
        row[0].set_title(f"{panel.study}: memorization\nmem~ ≥ {mem_t:g}: full "
                         f"{s['memorized_subset_models']}, linear "
                         f"{s['memorized_linear_models']}, both {s['memorized_both']}")
        _joint(row[1], panel.infl_counts, INFL_EDGES, "infl~, full models",
               "infl~, linear models", infl_t)
        row[1].set_title(f"influence, {int(panel.infl_counts.sum()):,} same-class pairs\n"
                         f"selected: full {s['pairs_subset_models']}, linear "
                         f"{s['pairs_linear_models']}, both {s['pairs_both']}")
        bins = MEM_EDGES
        for mem, label, color in ((panel.mem_full, "full models", COLORS["memorized"]),
                                  (panel.mem_linear, "linear models", COLORS["random"])):
            values = np.clip(mem[np.isfinite(mem)], bins[0], bins[-1])
            row[2].hist(values, bins=bins, histtype="step", color=color, label=label)
        row[2].axvline(mem_t, color=COLORS["full"], ls="--", lw=0.8)
        row[2].set(yscale="log", xlabel="mem~", ylabel="training examples")
        row[2].set_box_aspect(1)
        row[2].set_title(f"test accuracy: full model {100 * s['full_model_test_accuracy']:.1f}%"
                         f"\nsubset models {100 * s['subset_models_test_accuracy']:.1f}%, "
                         f"linear {100 * s['linear_models_test_accuracy']:.1f}%")
        row[2].legend(frameon=False, loc="upper right")
    return fig


@dataclass
class ArchPanel:
    """One pair of studies of a comparison group: mem of both on their common trials, the
    group's Jaccard curves restricted to these two studies, and their ``same trials`` row."""

    group: str
    study_a: str
    study_b: str
    mem_a: np.ndarray
    mem_b: np.ndarray
    curves: pd.DataFrame
    stats: Mapping[str, Any]


def _curves(ax: Axes, curves: pd.DataFrame, selection: str, xlabel: str, threshold: float,
            legend: bool) -> None:
    """Jaccard similarity against the threshold: across architectures (same trials; disjoint
    halves) and the within-study split-half baselines (dotted)."""
    part = curves[curves["selection"] == selection]
    within = sorted(c for c in part["comparison"].unique() if c.startswith("within "))
    colors = dict(zip(within, study_colors(len(within) + 2)[2:], strict=True))
    for comparison in [*ACROSS, *within]:
        line = part[part["comparison"] == comparison].sort_values("threshold")
        if line.empty:
            continue
        color, style = ACROSS.get(comparison, (colors.get(comparison), ":"))
        ax.plot(line["threshold"], line["jaccard"], color=color, ls=style, marker="o",
                markersize=2.5, label=comparison)
    ax.axvline(threshold, color=COLORS["full"], ls="--", lw=0.8)
    ax.set(xlabel=xlabel, ylabel="Jaccard similarity", ylim=(0, 1.02))
    ax.set_box_aspect(1)
    if legend:  # beside the row's last panel, clear of the curves
        ax.legend(frameon=False, fontsize=6.5, loc="upper left", bbox_to_anchor=(1.02, 1.0))


def draw_arch_comparison(panels: Sequence[ArchPanel]) -> Figure:
    """Cross-architecture comparison (Sec. C): per pair of studies, the joint histogram of
    their mem on the common trials (same subsets), and the Jaccard similarity of the memorized
    sets and of the high-influence pair sets over thresholds beside the split-half baselines."""
    fig, axes = _rows(len(panels), TEXT_WIDTH + 2.0,
                      "the comparison figure needs at least one pair of studies")
    for row, panel in zip(axes, panels, strict=True):
        s = panel.stats
        mem_t = s["mem_threshold"]
        _mem_joint(row[0], panel.mem_a, panel.mem_b, f"mem~, {panel.study_a}",
                   f"mem~, {panel.study_b}", mem_t, s["pearson"], s["spearman"])
        row[0].set_title(f"{panel.group}: {int(s['trials_a'])} common trials (same I_k)\n"
                         f"mem~ ≥ {mem_t:g}: {int(s['memorized_a'])} / "
                         f"{int(s['memorized_b'])}, both {int(s['memorized_both'])}")
        _curves(row[1], panel.curves, "memorized", "mem~ threshold", mem_t, legend=False)
        row[1].set_title(f"memorized sets {{i: mem~ ≥ threshold}}\nJaccard at {mem_t:g}: "
                         f"{s['jaccard_memorized']:.2f}")
        _curves(row[2], panel.curves, "pairs", f"infl~ threshold (mem~ ≥ {mem_t:g})",
                s["infl_threshold"], legend=True)
        row[2].set_title(f"high-influence pair sets\nJaccard at {s['infl_threshold']:g}: "
                         f"{s['jaccard_pairs']:.2f} ({int(s['pairs_a'])} / "
                         f"{int(s['pairs_b'])} pairs)")
    return fig
