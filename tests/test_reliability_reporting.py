"""Reliability in the reporting layer: tables/pairs columns and notes, the Fig. 3 / C.1 labels
and the consistency figure (Section 2, "Selection of pairs")."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from test_tables import ABOUT, SUMMARY

from longtail.estimators.reliability import summary_fields
from longtail.estimators.summary import reliability_note
from longtail.reporting.figures import make_consistency, make_figC1, selection_label
from longtail.reporting.plots import draw_consistency
from longtail.reporting.tables import make_pairs_table, pairs_display, pairs_table


def report(jaccards: list[float | None], reached: bool, used: float = 0.15) -> dict:
    grid = [0.05, 0.1, 0.15, 0.2]
    table = [{"threshold": v, "pairs_a": 10, "pairs_b": 10, "intersection": 5, "jaccard": j}
             for v, j in zip(grid, jaccards, strict=True)]
    mem_table = [{"threshold": 0.25, "size_a": 50, "size_b": 48, "intersection": 40,
                  "jaccard": 40 / 58}]
    at_used = next(r for r in table if r["threshold"] == used)
    return {"target": 0.7, "seed": 0, "half_trials": [128, 128],
            "mem": {"mode": "fixed", "grid": [0.25], "chosen": None, "reached": None,
                    "used": 0.25, "table": mem_table, "jaccard": 40 / 58, "sizes": [50, 48, 40]},
            "infl": {"mode": "auto", "grid": grid, "chosen": used if reached else None,
                     "reached": reached, "used": used, "table": table,
                     "jaccard": at_used["jaccard"], "sizes": [10, 10, 5]},
            "chance": {"null": "every true influence is zero", "permutations": 4,
                       "thresholds": grid, "pairs": [30.0, 12.0, 6.5, 2.0], "at_used": 6.5}}


def test_summary_and_table_say_when_pairs_do_not_replicate(tmp_path: Path) -> None:
    fields = summary_fields(report([0.1, 0.2, 0.3, None], reached=False))
    fields["reliability_note"] = reliability_note(fields, 12, 0.25, 0.15)
    assert fields["replicates"] is False and fields["jaccard_pairs"] == 0.3
    assert fields["threshold_search"]["infl"] == {
        "grid": [0.05, 0.1, 0.15, 0.2], "reached": False, "chosen": None,
        "jaccard": [0.1, 0.2, 0.3, None]}
    assert "do not replicate" in fields["reliability_note"]
    assert "No θ_infl on the grid 0.05...0.2 reaches Jaccard 0.7" in fields["reliability_note"]
    summary = {**SUMMARY, **fields, "n_test_single_train_any_mem": 4}
    table = pairs_table([summary], [ABOUT])
    ours = table.iloc[0]
    assert (ours["jaccard_pairs"], ours["pairs_chance"], ours["replicates"],
            ours["test_single_train_any_mem"]) == (0.3, 6.5, False, 4)
    assert math.isnan(table.iloc[2]["jaccard_pairs"])  # the paper's rows
    shown = pairs_display(table).iloc[0]
    assert shown["pairs replicate"] == "NO: does not replicate (< 0.7)"
    assert shown["split-half Jaccard, pairs / memorized"] == "0.30 / 0.69"
    assert shown["pairs expected by chance"] == "6.5"
    assert shown["θ_mem / θ_infl"] == "0.25 / 0.15 (auto)"
    assert shown["of those, a single influencer of any mem"] == "4"
    paths = {}
    for name, value in (("summary", summary), ("about", ABOUT)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(value))
    out = {ext: tmp_path / f"pairs.{ext}" for ext in ("csv", "md", "tex", "html")}
    make_pairs_table([paths["summary"]], [paths["about"]], out)
    markdown = out["md"].read_text()
    assert "toy: The 12 pairs" in markdown and "do not replicate" in markdown
    assert "NO: does not replicate" in markdown


def test_replicating_selection_reads_so() -> None:
    fields = summary_fields(report([0.2, 0.75, 0.8, 0.9], reached=True, used=0.1))
    assert fields["replicates"] and fields["jaccard_pairs"] == 0.75
    assert "θ_infl = 0.1 was chosen as the smallest value" in reliability_note(fields, 12, 0.25,
                                                                                0.1)
    label = selection_label({**SUMMARY, **fields, "infl_threshold": 0.1})
    assert label == "mem ≥ 0.25, infl ≥ 0.1: pairs replicate (split-half Jaccard 0.75 ≥ 0.7)"


def test_figures_say_when_pairs_do_not_replicate(tmp_path: Path) -> None:
    fields = summary_fields(report([0.1, 0.2, 0.3, None], reached=False))
    label = selection_label({**SUMMARY, **fields})
    assert "pairs DO NOT REPLICATE (split-half Jaccard 0.30 < 0.7; 6 of 12 expected by " \
           "chance); no θ_infl on the grid reaches 0.7, the paper's value is shown" in label
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({**SUMMARY, **fields}))
    about = tmp_path / "about.json"
    about.write_text(json.dumps(ABOUT))
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"infl": [0.15, 0.2, 0.4]}).to_csv(pairs, index=False)
    make_figC1(["toy"], [pairs], [about], tmp_path / "c1.pdf", tmp_path / "c1.png",
               {"bin_width": 0.05, "log": False}, summaries=[summary])
    assert (tmp_path / "c1.png").stat().st_size > 0


def test_consistency_figure(tmp_path: Path) -> None:
    fig = draw_consistency([("toy", report([0.1, 0.2, 0.3, None], reached=False)),
                            ("toy 2", report([0.2, 0.75, 0.8, 0.9], reached=True, used=0.1))])
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert "no grid value reaches 0.7: 0.15 shown, does not replicate" in titles[1]
    assert "auto 0.1: Jaccard 0.75, replicates" in titles[3]
    rel, about = tmp_path / "reliability.json", tmp_path / "about.json"
    rel.write_text(json.dumps(report([0.1, 0.2, 0.3, None], reached=False)))
    about.write_text(json.dumps(ABOUT))
    make_consistency(["toy"], [rel], [about], tmp_path / "c.pdf", tmp_path / "c.png")
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")


def splits_report(jaccards: list[float], pairs: float, used: float = 0.1) -> dict:
    """A report of 10 splits: mean Jaccards with a +-0.05 range, ``pairs`` per half."""
    base = report(jaccards, reached=False, used=used)
    rows = [{**row, "pairs_a": pairs, "pairs_b": pairs, "jaccard_min": row["jaccard"] - 0.05,
             "jaccard_max": row["jaccard"] + 0.05, "jaccard_std": 0.03, "jaccard_splits": 10}
            for row in base["infl"]["table"]]
    at_used = next(r for r in rows if r["threshold"] == used)
    chosen = next((r["threshold"] for r in rows
                   if r["jaccard"] >= 0.7 and r["pairs_a"] >= 20), None)
    infl = {**base["infl"], "table": rows, "chosen": chosen, "reached": chosen is not None,
            "jaccard": at_used["jaccard"], "jaccard_min": at_used["jaccard_min"],
            "jaccard_max": at_used["jaccard_max"], "jaccard_std": 0.03,
            "sizes": [pairs, pairs, pairs / 2], "min_size": 20,
            "replicates": at_used["jaccard"] >= 0.7 and pairs >= 20}
    return {**base, "splits": 10, "split_seed": 0, "min_pairs": 20, "infl": infl}


def test_mean_over_splits_with_its_range_in_words_and_figure(tmp_path: Path) -> None:
    many = splits_report([0.2, 0.75, 0.8, 0.9], pairs=40)
    fields = summary_fields(many)
    assert fields["replicates"] and fields["splits"] == 10
    assert (fields["jaccard_pairs_min"], fields["jaccard_pairs_max"]) == (0.7, 0.8)
    label = selection_label({**SUMMARY, **fields, "infl_threshold": 0.1})
    assert label == ("mem ≥ 0.25, infl ≥ 0.1: pairs replicate (split-half Jaccard 0.75 ≥ 0.7; "
                     "mean of 10 splits, 0.70-0.80)")
    note = reliability_note(fields, 12, 0.25, 0.1)
    assert "mean of 10 random half-splits (min 0.70, max 0.80, std 0.03)" in note
    shown = pairs_display(pairs_table([{**SUMMARY, **fields}], [ABOUT])).iloc[0]
    assert shown["pairs' Jaccard over the splits (min-max)"] == "0.70-0.80 (10 splits)"
    # a Jaccard that reaches the target on ~6 pairs per half does not replicate
    few = summary_fields(splits_report([0.2, 0.75, 0.8, 0.9], pairs=6))
    assert not few["replicates"] and few["threshold_search"]["infl"]["chosen"] is None
    assert "split-half Jaccard 0.75 ≥ 0.7 but fewer than 20 pairs per half" in \
        selection_label({**SUMMARY, **few, "infl_threshold": 0.1})
    assert "the halves select 6.0 / 6.0 pairs on average, fewer than the 20" in \
        reliability_note(few, 12, 0.25, 0.1)
    fig = draw_consistency([("toy", many), ("few", splits_report([0.2, 0.75, 0.8, 0.9], 6))])
    assert "auto 0.1: Jaccard 0.75, replicates" in fig.axes[1].get_title()
    assert "fixed" not in fig.axes[3].get_title() and "no grid value" in fig.axes[3].get_title()
    assert len(fig.axes[1].collections) == 1  # the min-max band
    assert "min-max over the 10 splits" in [t.get_text() for t in fig.legends[0].get_texts()]
