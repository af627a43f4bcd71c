"""Line and histogram figures: Fig. 2 (marginal utility of memorized examples), Fig. C.1 (pairs
per influence level), the distribution of memorization estimates and the label-noise figure."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from longtail.config.schema import schema_default
from longtail.labels.noise import precision_recall_curve
from longtail.reporting.errors import ReportingError
from longtail.reporting.plots.style import COLORS, TEXT_WIDTH, new_figure, study_colors

# The config's defaults of the options (plots.<figure>.<option>), for callers that pass none.
FIG2_BAND = schema_default("plots", "fig2", "band")
FIGC1_BIN_WIDTH = schema_default("plots", "figC1", "bin_width")
FIGC1_LOG = schema_default("plots", "figC1", "log")
MEM_HIST_BINS = schema_default("plots", "mem_hist", "bins")
MEM_HIST_LOG = schema_default("plots", "mem_hist", "log")
LABEL_NOISE_BINS = schema_default("plots", "label_noise", "bins")
LABEL_NOISE_LOG = schema_default("plots", "label_noise", "log")

KIND_LABELS = {"memorized": "memorized removed (mem ≥ threshold)",
               "random": "same number removed at random", "full": "full training set"}


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _wrap(title: str, width: int = 58) -> str:
    """Break a long panel title between words so every line fits a narrow column."""
    return "\n".join(textwrap.wrap(title, width, break_on_hyphens=False,
                                   break_long_words=False))


# ---------------------------------------------------------------- Fig. 2


def draw_fig2(panels: Sequence[tuple[str, pd.DataFrame]], band: str = FIG2_BAND) -> Figure:
    """Fig. 2: test accuracy after removing the examples with mem~ >= threshold and after
    removing as many random examples (mean over the models, shaded +- 1 std or standard error),
    against the threshold (top); memorized minus random with its 95% interval (middle); the
    fraction of the training set remaining (bottom).

    ``panels`` are (title, :func:`longtail.estimators.removal.removal_curve` table) per study; the
    full training set's accuracy is drawn as a dashed reference with the same band when present.
    The legend sits below the axes, so it never covers data.
    """
    if not panels:
        raise ReportingError("Fig. 2 needs at least one study")
    fig = new_figure(max(TEXT_WIDTH / 2 + 0.2, 3.4 * len(panels)), 5.2)
    axes = fig.subplots(3, len(panels), sharex="col", squeeze=False,
                        gridspec_kw={"height_ratios": [2.2, 1.4, 1]})
    spread_name = "std" if band == "std" else "SE"
    for column, (title, curve) in enumerate(panels):
        top, middle, bottom = axes[:, column]
        top.set_title(_wrap(title), fontsize=7.5)
        for kind in ("memorized", "random"):
            rows = curve[curve["kind"] == kind].sort_values("threshold")
            if rows.empty:
                continue
            mean, spread = _fig2_band(rows, band)
            x = rows["threshold"].to_numpy()
            top.plot(x, mean, marker="o", markersize=3.5, color=COLORS[kind],
                     label=KIND_LABELS[kind])
            top.fill_between(x, mean - spread, mean + spread, color=COLORS[kind], alpha=0.2,
                             linewidth=0)
        full = curve[curve["kind"] == "full"]
        if not full.empty:
            mean, spread = (float(v[0]) for v in _fig2_band(full.iloc[:1], band))
            top.axhline(mean, color=COLORS["full"], linestyle="--", linewidth=1,
                        label=f"{KIND_LABELS['full']} (band ± {spread_name})")
            if np.isfinite(spread):
                top.axhspan(mean - spread, mean + spread, color=COLORS["full"], alpha=0.12,
                            linewidth=0)
        _draw_differences(middle, curve)
        removal = curve[curve["kind"] == "memorized"].sort_values("threshold")
        bottom.plot(removal["threshold"], removal["fraction_remaining"], marker="o",
                    markersize=3.5, color=COLORS["full"])
        lowest = float(np.min(removal["fraction_remaining"].to_numpy(), initial=1.0))
        bottom.set_ylim(min(0.9, lowest) - 0.05, 1.02)
        bottom.set_xlabel("memorization value threshold")
        if column == 0:
            top.set_ylabel(f"test accuracy (%)\nmean ± {spread_name}")
            middle.set_ylabel("mem. − random\n(pp, 95% CI)")
            bottom.set_ylabel("fraction of training\nset remaining")
    fig.align_ylabels(axes[:, 0])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False,
               fontsize=6.5)
    return fig


def _fig2_band(rows: pd.DataFrame, band: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean accuracy and the band's half-width (+- 1 std or standard error), in percent."""
    mean = 100 * rows["accuracy_mean"].to_numpy(dtype=float)
    spread = 100 * rows["accuracy_std"].to_numpy(dtype=float)
    if band == "se":
        spread = spread / np.sqrt(rows["models"].to_numpy(dtype=float))
    return mean, spread


def _draw_differences(ax: Axes, curve: pd.DataFrame) -> None:
    """Memorized minus random accuracy per threshold (percentage points) with its 95% interval
    (``difference_*`` columns of the memorized rows), around a zero line."""
    columns = ("difference_mean", "difference_low", "difference_high")
    rows = curve[curve["kind"] == "memorized"].sort_values("threshold")
    if set(columns) <= set(curve.columns):
        rows = rows[np.isfinite(rows[list(columns)].to_numpy(dtype=float)).all(axis=1)]
    else:
        rows = rows.iloc[:0]
    ax.axhline(0, color=COLORS["full"], linewidth=0.8)
    if rows.empty:
        ax.text(0.5, 0.5, "no interval (fewer than 2 models per kind)", ha="center",
                va="center", transform=ax.transAxes, fontsize=6.5)
        return
    mean, low, high = (100 * rows[c].to_numpy(dtype=float) for c in columns)
    ax.errorbar(rows["threshold"], mean, yerr=[mean - low, high - mean], fmt="o",
                markersize=3, capsize=2, color=COLORS["memorized"], linewidth=1)


# ---------------------------------------------------------------- Fig. C.1


def influence_bins(threshold: float, bin_width: float) -> np.ndarray:
    """Bin edges from the influence threshold up to 1 in steps of ``bin_width``."""
    count = max(1, math.ceil(round((1 - threshold) / bin_width, 9)))
    return threshold + bin_width * np.arange(count + 1)


def draw_figC1(panels: Sequence[tuple[str, np.ndarray, float]], bin_width: float = FIGC1_BIN_WIDTH,
               log: bool = FIGC1_LOG) -> Figure:
    """Fig. C.1: the number of selected high-influence pairs per level of influence.

    ``panels`` are (title, influence of every selected pair, θ_infl) per study.
    """
    if not panels:
        raise ReportingError("Fig. C.1 needs at least one study")
    fig = new_figure(min(TEXT_WIDTH, 3.5 * len(panels)) if len(panels) > 1 else 3.6, 2.7)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, infl, threshold) in zip(axes, panels, strict=True):
        ax.set_title(_wrap(title, 52), fontsize=7.5)
        infl = np.asarray(infl, dtype=np.float64)
        edges = influence_bins(threshold, bin_width)
        counts, _ = np.histogram(np.clip(infl, edges[0], edges[-1]), bins=edges)
        bars = ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge",
                      color=COLORS["bars"], edgecolor="white", linewidth=0.5)
        ax.bar_label(bars, labels=[f"{c:,}" if c else "" for c in counts], fontsize=6.5,
                     padding=1)
        ax.set_xlabel("influence estimate")
        ax.set_xlim(edges[0], edges[-1])
        if log and counts.any():
            ax.set_yscale("log")
            ax.set_ylim(0.8, 3 * counts.max())
        elif counts.any():
            ax.set_ylim(0, 1.12 * counts.max())  # room for the count above the tallest bar
        if not len(infl):
            ax.text(0.5, 0.5, f"no pairs with influence ≥ {threshold:g}", ha="center",
                    va="center", transform=ax.transAxes)
        ax.text(0.98, 0.95, f"{len(infl):,} pairs", ha="right", va="top",
                transform=ax.transAxes)
    axes[0].set_ylabel("number of pairs")
    return fig


# ---------------------------------------------------------------- memorization histogram


def draw_mem_hist(panels: Sequence[tuple[str, np.ndarray]], threshold: float,
                  bins: int = MEM_HIST_BINS, log: bool = MEM_HIST_LOG) -> Figure:
    """The distribution of memorization estimates, one step histogram per study (share of the
    study's training examples per bin), with θ_mem marked and the share above it."""
    if not panels:
        raise ReportingError("the memorization histogram needs at least one study")
    fig = new_figure(TEXT_WIDTH / 2 + 0.6, 2.8)
    ax = fig.add_subplot()
    values = [np.asarray(mem, dtype=np.float64) for _, mem in panels]
    low = min(0.0, *(float(np.nanmin(v)) for v in values if np.isfinite(v).any()))
    edges = np.linspace(low, 1.0, bins + 1)
    for color, (label, _), mem in zip(study_colors(len(panels)), panels, values, strict=True):
        finite = mem[np.isfinite(mem)]
        share = 100 * np.mean(finite >= threshold) if len(finite) else math.nan
        weights = np.full(len(finite), 1 / max(len(finite), 1))
        ax.hist(finite, bins=edges, weights=weights, histtype="step", linewidth=1.4,
                color=color, label=f"{label}: {share:.1f}% ≥ {threshold:g}")
    ax.axvline(threshold, color=COLORS["full"], linestyle="--", linewidth=1)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("memorization estimate mem~")
    ax.set_ylabel("share of training examples")
    ax.legend(loc="upper right", frameon=False)
    return fig


# ---------------------------------------------------------------- label noise


@dataclass
class NoisePanel:
    """One study of the label-noise figure."""

    title: str
    mem: np.ndarray
    flipped: np.ndarray
    metrics: Mapping[str, Any]
    scores: Mapping[str, np.ndarray] | None = None  # detector -> score (default: mem~ alone)


def draw_label_noise(panels: Sequence[NoisePanel], bins: int = LABEL_NOISE_BINS,
                     log: bool = LABEL_NOISE_LOG) -> Figure:
    """Memorization estimates as a detector of flipped labels, one row per study: histograms of
    mem~ for flipped and clean training examples (left; each normalised to its own count, on a
    logarithmic axis by default) and the precision-recall curves of flagging examples by each
    detector (right: mem~ and, where stored, 1 - p_out) with their AUROC, and precision at
    k = number flipped of mem~."""
    if not panels:
        raise ReportingError("the label-noise figure needs at least one study")
    fig = new_figure(TEXT_WIDTH, 2.7 * len(panels))
    axes = fig.subplots(len(panels), 2, squeeze=False)
    for (left, right), panel in zip(axes, panels, strict=True):
        mem = np.asarray(panel.mem, dtype=np.float64)
        flipped = np.asarray(panel.flipped, dtype=bool)
        finite = np.isfinite(mem)
        edges = np.linspace(min(0.0, float(np.nanmin(mem))), 1.0, bins + 1)
        for name, select in (("clean", ~flipped), ("flipped", flipped)):
            values = mem[select & finite]
            left.hist(values, bins=edges, weights=np.full(len(values), 1 / max(len(values), 1)),
                      color=COLORS[name], alpha=0.45, label=f"{name} ({select.sum():,})")
        if log:
            left.set_yscale("log")
        left.set_xlabel("memorization estimate mem~")
        left.set_ylabel("share of examples")
        left.legend(loc="upper center", frameon=False)
        left.set_title(_wrap(panel.title, 60), fontsize=7.5, loc="left")
        m = panel.metrics
        scores = panel.scores or {"mem": mem}
        styles = {"mem": ("mem~", "-"), "inconsistency": ("1 - p_out", ":")}
        for name, score in scores.items():
            precision, recall, _ = precision_recall_curve(score, flipped)
            label, style = styles.get(name, (name, "--"))
            auroc_value = m["auroc"] if name == "mem" else m.get(f"auroc_{name}", float("nan"))
            right.plot(np.r_[0.0, recall], np.r_[precision[0], precision],
                       color=COLORS["flipped"], linestyle=style, drawstyle="steps-post",
                       label=f"{label}: AUROC {auroc_value:.3f}")
        right.axhline(m["fraction_flipped"], color=COLORS["full"], linestyle="--", linewidth=1,
                      label=f"chance ({m['fraction_flipped']:.0%} flipped)")
        right.plot([m["precision_at_k"]], [m["precision_at_k"]], "o", color=COLORS["flipped"],
                   markersize=4, label=f"top k = {m['k']:,}: precision {m['precision_at_k']:.2f}")
        right.set_xlim(0, 1)
        right.set_ylim(0, 1.02)
        right.set_xlabel("recall (flipped labels found)")
        right.set_ylabel("precision")
        right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False,
                     fontsize=6.5, ncol=2)
    return fig
