"""The selection of a study and its summary, written: ``pairs.csv``, ``summary.json`` (Section
3's numbers, with the split-half reliability and its note where the study has trials) and the
selection's caption (reStructuredText, for the figures drawn from the pairs). The numbers come
from :mod:`longtail.estimators.select` and :mod:`longtail.estimators.reliability`; the reporting
layer only reads these files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from longtail.config.until import until_summary
from longtail.estimators.plan import plan_line
from longtail.estimators.reliability import select_at_report
from longtail.estimators.select import select_pairs_file, write_summary
from longtail.store.io import write_text


def jaccard_text(value: float | None) -> str:
    """A split-half Jaccard for reading (None: both halves selected nothing)."""
    return "undefined (both halves empty)" if value is None else f"{value:.2f}"


def spread_text(fields: Mapping[str, Any], name: str) -> str:
    """How the Jaccard of ``name`` (pairs | memorized) varies over the splits, in words, to
    follow the Jaccard after a comma: empty for a summary of one split."""
    splits = fields.get("splits", 1)
    low, high = fields.get(f"jaccard_{name}_min"), fields.get(f"jaccard_{name}_max")
    if splits <= 1 or low is None or high is None:
        return ""
    return (f", mean of {splits} random half-splits (min {low:.2f}, max {high:.2f}, "
            f"std {fields[f'jaccard_{name}_std']:.2f})")


def too_few_text(fields: Mapping[str, Any]) -> str:
    """Why pairs whose Jaccard reaches the target still do not replicate: too few per half."""
    sizes, least = fields.get("split_half_pairs"), fields.get("min_pairs", 0)
    jaccard = fields["jaccard_pairs"]
    if fields["replicates"] or not least or not sizes or jaccard is None or \
            jaccard < fields["replicates_target"]:
        return ""
    return (f", but the halves select {sizes[0]:.1f} / {sizes[1]:.1f} pairs on average, "
            f"fewer than the {least:g} per half a replicating selection needs")


def reliability_note(fields: Mapping[str, Any], n_pairs: int, mem_threshold: float,
                     infl_threshold: float) -> str:
    """One paragraph: do the selections replicate, how many pairs chance alone would give,
    and how the thresholds were set (``fields``:
    :func:`longtail.estimators.reliability.summary_fields`)."""
    target = fields["replicates_target"]
    verdict = "replicate" if fields["replicates"] else "do not replicate"
    least = fields.get("min_pairs", 0)
    per_half = f" with at least {least:g} pairs per half" if least else ""
    text = (f"The {n_pairs:,} pairs (mem >= {mem_threshold:g}, infl >= {infl_threshold:g}) "
            f"{verdict}: split-half Jaccard {jaccard_text(fields['jaccard_pairs'])}"
            f"{spread_text(fields, 'pairs')} against the paper's target {target:g}"
            f"{too_few_text(fields)}; {fields['n_pairs_chance']:,.1f} pairs are expected "
            f"by chance (null: {fields['chance_null']}). The memorized set "
            f"{'replicates' if fields['memorized_replicates'] else 'does not replicate'} "
            f"(Jaccard {jaccard_text(fields['jaccard_memorized'])}"
            f"{spread_text(fields, 'memorized')}).")
    for name, search in fields["threshold_search"].items():
        size = per_half if name == "infl" else ""
        if search["reached"]:
            text += (f" θ_{name} = {search['chosen']:g} was chosen as the smallest value of the "
                     f"grid whose split-half Jaccard reaches {target:g}{size}.")
        else:
            text += (f" No θ_{name} on the grid {min(search['grid']):g}..."
                     f"{max(search['grid']):g} reaches Jaccard {target:g}{size}; the paper's "
                     f"value is shown, and does not replicate.")
    return text


def fixed_thresholds_note(mem_threshold: float, infl_threshold: float) -> str:
    """The caption of pairs selected at fixed thresholds from estimates without the trials to
    split (released estimates, the last layer): their reliability is unknown."""
    return (f"Pairs selected at the fixed thresholds mem >= {mem_threshold} and "
            f"infl >= {infl_threshold}; their split-half reliability is unknown "
            f"(these estimates come without the trials to split).")


def trials_note(forecast: Mapping[str, Any] | None = None,
                until: Mapping[str, Any] | None = None) -> str:
    """What the trials bought, in words: how a study that trained until its findings
    replicate stopped, and the forecast of the trials each selection needs
    (:func:`longtail.estimators.plan.plan_line`)."""
    text = ""
    if until is not None:
        what = "reached" if until["reached"] else "did not reach"
        text += (f" The study trained {until['step']:,} trials a round until its "
                 f"{until['set']} replicate (target {until['target']:g}, at most "
                 f"{until['max']:,}) and {what} it: {until['rounds']} rounds, t = "
                 f"{until['t']:,} ({until['reason']}).")
    for plan in (forecast or {}).get("forecasts", []):
        text += " Forecast: " + plan_line(plan)
    return text


def select_reliably(estimates_path: str | os.PathLike, report: Mapping[str, Any],
                    out_csv: str | os.PathLike, out_summary: str | os.PathLike | None = None,
                    out_rst: str | os.PathLike | None = None,
                    forecast: Mapping[str, Any] | None = None,
                    until: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Select the pairs at the thresholds the reliability ``report`` settled on
    (:func:`longtail.estimators.reliability.select_at_report`), and write them,
    ``summary.json`` (Section 3's numbers with their reliability and ``reliability_note``;
    the forecasts of the trials each selection needs, ``trials_forecast``, and how a study
    that trains until its findings replicate stopped, ``trials_until``) and the note as
    reStructuredText for the captions of the figures drawn from them."""
    summary = select_at_report(estimates_path, report, out_csv)
    if forecast is not None:
        summary["trials_forecast"] = list(forecast["forecasts"])
    if until is not None:
        summary["trials_until"] = until_summary(until)
    summary["reliability_note"] = reliability_note(
        summary, summary["n_pairs"], summary["mem_threshold"], summary["infl_threshold"]
    ) + trials_note(forecast, summary.get("trials_until"))
    if out_summary is not None:
        write_summary(summary, out_summary)
    if out_rst is not None:
        write_text(out_rst, summary["reliability_note"] + "\n")
    return summary


def select_fixed(estimates_path: str | os.PathLike, out_csv: str | os.PathLike,
                 mem_threshold: float, infl_threshold: float,
                 out_summary: str | os.PathLike | None = None,
                 out_rst: str | os.PathLike | None = None) -> dict[str, Any]:
    """Select the pairs at fixed thresholds (estimates without trials to split: released
    files, the last layer) and write them, ``summary.json`` and a caption that says their
    reliability is unknown."""
    summary = select_pairs_file(estimates_path, out_csv, mem_threshold, infl_threshold)
    if out_summary is not None:
        write_summary(summary, out_summary)
    if out_rst is not None:
        write_text(out_rst, fixed_thresholds_note(mem_threshold, infl_threshold) + "\n")
    return summary
