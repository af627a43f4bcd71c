"""Whether a selection replicates, in words: the reliability note of ``summary.json`` and of
the caption of the figures drawn from the pairs (the numbers: :mod:`longtail.reliability`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from longtail.h5 import atomic_path
from longtail.reliability import select_at_report
from longtail.select import write_summary


def jaccard_text(value: float | None) -> str:
    """A split-half Jaccard for reading (None: both halves selected nothing)."""
    return "undefined (both halves empty)" if value is None else f"{value:.2f}"


def reliability_note(fields: Mapping[str, Any], n_pairs: int, mem_threshold: float,
                     infl_threshold: float) -> str:
    """One paragraph: do the selections replicate, how many pairs chance alone would give,
    and how the thresholds were set (``fields``: :func:`longtail.reliability.summary_fields`)."""
    target = fields["replicates_target"]
    verdict = "replicate" if fields["replicates"] else "do not replicate"
    text = (f"The {n_pairs:,} pairs (mem >= {mem_threshold:g}, infl >= {infl_threshold:g}) "
            f"{verdict}: split-half Jaccard {jaccard_text(fields['jaccard_pairs'])} against "
            f"the paper's target {target:g}; {fields['n_pairs_chance']:,.1f} pairs are expected "
            f"by chance (null: {fields['chance_null']}). The memorized set "
            f"{'replicates' if fields['memorized_replicates'] else 'does not replicate'} "
            f"(Jaccard {jaccard_text(fields['jaccard_memorized'])}).")
    for name, search in fields["threshold_search"].items():
        if search["reached"]:
            text += (f" θ_{name} = {search['chosen']:g} was chosen as the smallest value of the "
                     f"grid whose split-half Jaccard reaches {target:g}.")
        else:
            text += (f" No θ_{name} on the grid {min(search['grid']):g}..."
                     f"{max(search['grid']):g} reaches Jaccard {target:g}; the paper's value is "
                     f"shown, and does not replicate.")
    return text


def fixed_thresholds_note(mem_threshold: float, infl_threshold: float) -> str:
    """The caption of pairs selected at fixed thresholds from estimates without the trials to
    split (released estimates, the last layer): their reliability is unknown."""
    return (f"Pairs selected at the fixed thresholds mem >= {mem_threshold} and "
            f"infl >= {infl_threshold}; their split-half reliability is unknown "
            f"(these estimates come without the trials to split).")


def select_reliably(estimates_path: str | os.PathLike, report: Mapping[str, Any],
                    out_csv: str | os.PathLike, out_summary: str | os.PathLike | None = None,
                    out_rst: str | os.PathLike | None = None) -> dict[str, Any]:
    """Select the pairs at the thresholds the reliability ``report`` settled on
    (:func:`longtail.reliability.select_at_report`), and write them, ``summary.json``
    (Section 3's numbers with their reliability and ``reliability_note``) and the note as
    reStructuredText for the captions of the figures drawn from them."""
    summary = select_at_report(estimates_path, report, out_csv)
    summary["reliability_note"] = reliability_note(summary, summary["n_pairs"],
                                                   summary["mem_threshold"],
                                                   summary["infl_threshold"])
    if out_summary is not None:
        write_summary(summary, out_summary)
    if out_rst is not None:
        with atomic_path(out_rst) as tmp:
            tmp.write_text(summary["reliability_note"] + "\n")
    return summary
