"""The figure stage: read what a figure needs from each study's results (estimates, pairs,
removal runs, images), make the paper's selections and draw with
:mod:`longtail.reporting.plots`, then write ``figures/<name>.pdf`` and a PNG beside it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from longtail.data.study_data import read_class_names, read_study_images
from longtail.estimators.estimates import load_influence, read_estimates
from longtail.estimators.removal import read_removal, removal_curve
from longtail.labels.noise import compare_detectors, detector_scores
from longtail.reporting.errors import ReportingError
from longtail.reporting.inputs import by_study, read_label_noise
from longtail.reporting.plots import (
    ExampleGrid,
    NoisePanel,
    PairPanel,
    PairRow,
    draw_consistency,
    draw_fig1,
    draw_fig2,
    draw_fig3,
    draw_figC1,
    draw_label_noise,
    draw_mem_hist,
    draw_trials_curve,
    examples_near,
    figure_style,
    highest_influence,
    resolve_classes,
    save_figure,
    spread_groups,
    top_influenced,
)
from longtail.reporting.provenance import read_about, short_title
from longtail.reporting.reliability import jaccard_verdict

PathLike = str | os.PathLike


def _check_studies(figure: str, studies: Sequence[str]) -> None:
    if not studies:
        raise ReportingError(f"figures.{figure} in the config lists no studies")


# ---------------------------------------------------------------- the figures


def make_fig1(studies: Sequence[str], estimates: Sequence[PathLike], data: Sequence[PathLike],
              about: Sequence[PathLike], out_pdf: PathLike, out_png: PathLike,
              options: Mapping[str, Any]) -> None:
    """Fig. 1: for the configured classes, training examples with mem~ near each target."""
    _check_studies("fig1", studies)
    grids = []
    for est_path, data_path, about_path in zip(estimates, data, about, strict=True):
        est, info = read_estimates(est_path), read_about(about_path)
        names = read_class_names(data_path)
        classes = resolve_classes(options.get("classes"), names)
        targets = [float(t) for t in options["targets"]]
        chosen = examples_near(est.mem, est.train_labels, classes, targets,
                               options["per_group"], seed=info["seed"])
        images = read_study_images(data_path, "train", np.maximum(chosen, 0))
        values = np.where(chosen >= 0, est.mem[np.maximum(chosen, 0)], np.nan)
        grids.append(ExampleGrid(short_title(info), [names[c] for c in classes], targets,
                                 images.reshape(*chosen.shape, *images.shape[1:]), values))
    with figure_style():
        save_figure(draw_fig1(grids), out_pdf, out_png)


def make_fig2(studies: Sequence[str], removal: Sequence[PathLike], about: Sequence[PathLike],
              out_pdf: PathLike, out_png: PathLike, options: Mapping[str, Any]) -> pd.DataFrame:
    """Fig. 2 from the removal runs (parts ``full`` and ``mem-*``) of each study; returns the
    plotted numbers (one row per study, threshold and kind)."""
    _check_studies("fig2", studies)
    shards = by_study(removal, studies)
    panels, tables = [], []
    for study, about_path in zip(studies, about, strict=True):
        curve = removal_curve(read_removal(shards[study]))
        panels.append((short_title(read_about(about_path)), curve))
        tables.append(curve.assign(study=study))
    with figure_style():
        save_figure(draw_fig2(panels, band=options["band"]), out_pdf, out_png)
    return pd.concat(tables, ignore_index=True)


def fig2_caption(numbers: pd.DataFrame) -> str:
    """reStructuredText lines for Fig. 2's caption: per study and threshold, memorized minus
    random test accuracy with its 95% Welch interval (from :func:`make_fig2`'s numbers)."""
    lines = []
    for row in numbers[numbers["kind"] == "memorized"].to_dict("records"):
        head = (f"- {row['study']}, mem >= {row['threshold']:g} ({int(row['removed']):,} "
                f"removed, {int(row['models'])} models per kind): memorized - random = ")
        if not np.isfinite(row["difference_low"]):
            lines.append(f"{head}{100 * row['difference_mean']:+.2f} pp (no interval: fewer "
                         f"than 2 models per kind)")
            continue
        excludes = row["difference_low"] > 0 or row["difference_high"] < 0
        lines.append(f"{head}{100 * row['difference_mean']:+.2f} pp, 95% CI "
                     f"[{100 * row['difference_low']:+.2f}, {100 * row['difference_high']:+.2f}]"
                     f" (Welch, df {row['difference_df']:.1f}); "
                     f"{'excludes' if excludes else 'includes'} 0")
    return "\n".join(lines) + "\n"


def fig3_panel(estimates_path: PathLike, pairs_path: PathLike, data_path: PathLike,
               title: str, groups: int, per_group: int, tests: int) -> PairPanel:
    """One study's Fig. 3 rows: the paper's evenly spread selection of the pairs' training
    examples, each with its ``tests`` most influenced same-class test examples."""
    est = read_estimates(estimates_path)
    pairs = pd.read_csv(pairs_path)
    if pairs.empty:
        return PairPanel(title, [], note="no high-influence pairs were selected")
    names = read_class_names(data_path)
    train_index, best = highest_influence(pairs)
    chosen = spread_groups(train_index, best, groups, per_group)
    out = []
    for group in chosen:
        rows = []
        train_images = read_study_images(data_path, "train", group)
        for i, image in zip(group.tolist(), train_images, strict=True):
            label = est.train_labels[i]
            candidates = np.flatnonzero(est.test_labels == label)
            infl = load_influence(estimates_path, [i], candidates)[0]
            test_index, values = top_influenced(infl, candidates, tests)
            rows.append(PairRow(names[label], image, float(est.mem[i]),
                                read_study_images(data_path, "test", test_index), values))
        out.append(rows)
    return PairPanel(title, out)


def selection_label(summary: Mapping[str, Any]) -> str:
    """A figure's words on its selection: the thresholds and whether the pairs replicate
    (split-half Jaccard, mean over the splits with their range, against the target,
    :mod:`longtail.estimators.reliability`)."""
    text = f"mem ≥ {summary['mem_threshold']:g}, infl ≥ {summary['infl_threshold']:g}"
    if "replicates" not in summary:
        return text
    target = summary["replicates_target"]
    verdict = (f"pairs replicate ({jaccard_verdict(summary)})" if summary["replicates"] else
               f"pairs DO NOT REPLICATE ({jaccard_verdict(summary)}; "
               f"{summary['n_pairs_chance']:,.0f} of {summary['n_pairs']:,} expected by chance)")
    search = summary.get("threshold_search", {}).get("infl")
    if search and not search["reached"]:
        verdict += f"; no θ_infl on the grid reaches {target:g}, the paper's value is shown"
    return f"{text}: {verdict}"


def _summaries(paths: Sequence[PathLike], count: int) -> list[dict[str, Any] | None]:
    if not paths:
        return [None] * count
    out = []
    for path in paths:
        with open(path) as fh:
            out.append(json.load(fh))
    return out


def make_fig3(studies: Sequence[str], estimates: Sequence[PathLike], pairs: Sequence[PathLike],
              data: Sequence[PathLike], about: Sequence[PathLike], out_pdf: PathLike,
              out_png: PathLike, options: Mapping[str, Any],
              summaries: Sequence[PathLike] = ()) -> None:
    """Fig. 3: high-influence pairs, selected as in Section 3 (no cherry-picking); with the
    studies' ``summary.json`` each panel says whether its pairs replicate."""
    _check_studies("fig3", studies)
    titles = [short_title(read_about(a)) + ("" if s is None else f"; {selection_label(s)}")
              for a, s in zip(about, _summaries(summaries, len(about)), strict=True)]
    panels = [fig3_panel(e, p, d, title, options["groups"], options["per_group"],
                         options["tests"])
              for e, p, d, title in zip(estimates, pairs, data, titles, strict=True)]
    with figure_style():
        save_figure(draw_fig3(panels, tests=options["tests"]), out_pdf, out_png)


def make_figC1(studies: Sequence[str], pairs: Sequence[PathLike], about: Sequence[PathLike],
               out_pdf: PathLike, out_png: PathLike, options: Mapping[str, Any],
               infl_threshold: float | None = None, summaries: Sequence[PathLike] = ()) -> None:
    """Fig. C.1: histogram of the number of pairs per influence level; with the studies'
    ``summary.json``, at each study's θ_infl and saying whether its pairs replicate."""
    _check_studies("figC1", studies)
    panels = []
    for p, a, s in zip(pairs, about, _summaries(summaries, len(about)), strict=True):
        title = short_title(read_about(a))
        if s is not None:
            title, threshold = f"{title}; {selection_label(s)}", s["infl_threshold"]
        elif infl_threshold is None:
            raise ReportingError("Fig. C.1 needs θ_infl or the studies' summaries")
        else:
            threshold = infl_threshold
        panels.append((title, pd.read_csv(p)["infl"].to_numpy(), threshold))
    with figure_style():
        save_figure(draw_figC1(panels, bin_width=options["bin_width"], log=options["log"]),
                    out_pdf, out_png)


def make_mem_hist(studies: Sequence[str], estimates: Sequence[PathLike], out_pdf: PathLike,
                  out_png: PathLike, options: Mapping[str, Any], mem_threshold: float) -> None:
    """The distribution of memorization estimates of each study."""
    _check_studies("mem_hist", studies)
    panels = [(study, read_estimates(path).mem)
              for study, path in zip(studies, estimates, strict=True)]
    with figure_style():
        save_figure(draw_mem_hist(panels, mem_threshold, bins=options["bins"],
                                  log=options["log"]), out_pdf, out_png)


def make_label_noise(studies: Sequence[str], estimates: Sequence[PathLike],
                     data: Sequence[PathLike], about: Sequence[PathLike], out_pdf: PathLike,
                     out_png: PathLike, options: Mapping[str, Any]) -> None:
    """mem~ as a detector of flipped labels (studies with label_noise > 0)."""
    _check_studies("label_noise", studies)
    panels = []
    for est_path, data_path, about_path in zip(estimates, data, about, strict=True):
        est = read_estimates(est_path)
        flipped, original = read_label_noise(data_path)
        panels.append(NoisePanel(
            short_title(read_about(about_path)), est.mem, flipped,
            compare_detectors(est.mem, est.p_out, est.suggested_label, flipped, original),
            detector_scores(est.mem, est.p_out)))
    with figure_style():
        save_figure(draw_label_noise(panels, bins=options["bins"], log=options["log"]),
                    out_pdf, out_png)


def make_consistency(studies: Sequence[str], reliability: Sequence[PathLike],
                     about: Sequence[PathLike], out_pdf: PathLike, out_png: PathLike) -> None:
    """Split-half Jaccard of the memorized and pair sets against their thresholds, per study
    (``results/{study}/reliability.json``)."""
    _check_studies("consistency", studies)
    panels = []
    for rel, a in zip(reliability, about, strict=True):
        with open(rel) as fh:
            panels.append((short_title(read_about(a)), json.load(fh)))
    with figure_style():
        save_figure(draw_consistency(panels), out_pdf, out_png)


def make_trials_curve(curve: PathLike, forecast: PathLike, about: PathLike, target: float,
                      out_pdf: PathLike, out_png: PathLike) -> None:
    """The trials curve of one study (``results/{study}/trials_curve.csv``) with its
    forecasts (``forecast.json``)."""
    with open(forecast) as fh:
        plans = json.load(fh)["forecasts"]
    with figure_style():
        save_figure(draw_trials_curve(short_title(read_about(about)), pd.read_csv(curve),
                                      target, plans), out_pdf, out_png)
