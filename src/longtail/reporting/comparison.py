"""The cross-architecture comparison (Sec. C) for people: ``tables/arch_comparison.{csv,md}``
and its figure, from the groups' statistics, curves and mem written by
:func:`longtail.estimators.agreement.compare_group_files`."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from longtail.reporting.plots.comparison import ArchPanel, draw_arch_comparison
from longtail.reporting.plots.style import figure_style, save_figure
from longtail.reporting.tables import to_markdown, write_markdown
from longtail.store.io import write_csv


def tabulate_comparisons(stats_csvs: Sequence[str | os.PathLike], out_csv: str | os.PathLike,
                         out_md: str | os.PathLike) -> pd.DataFrame:
    """Concatenate the groups' statistics into ``tables/arch_comparison.{csv,md}``."""
    table = pd.concat([pd.read_csv(path) for path in stats_csvs], ignore_index=True)
    write_csv(out_csv, table, float_format="%.6g")
    shown = pd.DataFrame({
        "group": table["group"], "comparison": table["comparison"], "study a": table["study_a"],
        "study b": table["study_b"], "trials": table["trials_a"],
        "Pearson": table["pearson"].map("{:.3f}".format),
        "Spearman": table["spearman"].map("{:.3f}".format),
        "mem~ ≥ θ (a / b / both)": [f"{a} / {b} / {c}" for a, b, c in zip(
            table["memorized_a"], table["memorized_b"], table["memorized_both"], strict=True)],
        "Jaccard, memorized": table["jaccard_memorized"].map("{:.3f}".format),
        "pairs (a / b / both)": [f"{a} / {b} / {c}" for a, b, c in zip(
            table["pairs_a"], table["pairs_b"], table["pairs_both"], strict=True)],
        "Jaccard, pairs": table["jaccard_pairs"].map("{:.3f}".format),
        "test accuracy (a / b)": [f"{100 * a:.1f}% / {100 * b:.1f}%" for a, b in zip(
            table["test_accuracy_a"], table["test_accuracy_b"], strict=True)]})
    notes = [
        "`same trials`: all valid trials the studies share, hence the same subsets I_k and the "
        "same t on both sides. `across halves` and `within <study>`: the common trials split "
        "into two disjoint random halves (t/2 each); a study's two halves against each other "
        "are the estimation-noise baseline for `across halves`.",
        f"θ_mem = {table['mem_threshold'].iloc[0]:g}, θ_infl = "
        f"{table['infl_threshold'].iloc[0]:g}; pairs need y_i = y'_j (Section 2)."]
    write_markdown(to_markdown(shown, "Memorization and influence estimates across "
                                      "architectures (Sec. C)", notes), out_md)
    return table


def make_arch_comparison(stats_csvs: Sequence[str | os.PathLike],
                         curves_csvs: Sequence[str | os.PathLike],
                         mem_csvs: Sequence[str | os.PathLike], out_pdf: str | os.PathLike,
                         out_png: str | os.PathLike) -> None:
    """Stage: the cross-architecture figure, one row per pair of studies of every group."""
    panels = []
    for stats_csv, curves_csv, mem_csv in zip(stats_csvs, curves_csvs, mem_csvs, strict=True):
        stats_table, curves, mem = (pd.read_csv(p) for p in (stats_csv, curves_csv, mem_csv))
        for row in stats_table[stats_table["comparison"] == "same trials"].to_dict("records"):
            a, b = row["study_a"], row["study_b"]
            both = curves["study_a"].isin([a, b]) & curves["study_b"].isin([a, b])
            panels.append(ArchPanel(row["group"], a, b, mem[f"mem_{a}"].to_numpy(),
                                    mem[f"mem_{b}"].to_numpy(), curves[both], row))
    with figure_style():
        save_figure(draw_arch_comparison(panels), out_pdf, out_png)
