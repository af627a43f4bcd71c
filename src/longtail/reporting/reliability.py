"""Whether a selection replicates, in a few words for the captions and table notes of the
figures and tables (the numbers: :mod:`longtail.estimators.reliability`; the paragraph
``summary.json`` and the selection's caption carry, written with the selection:
:mod:`longtail.estimators.summary`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def jaccard_verdict(fields: Mapping[str, Any]) -> str:
    """The pairs' split-half Jaccard against the target in a few words, for captions and
    table notes: "split-half Jaccard 0.30 < 0.7; mean of 10 splits, 0.21-0.38" (``fields``:
    :func:`longtail.estimators.reliability.summary_fields`; the range only for more than one
    split)."""
    jaccard, target = fields.get("jaccard_pairs"), fields["replicates_target"]
    text = "split-half Jaccard " + ("undefined" if jaccard is None else f"{jaccard:.2f}")
    if jaccard is not None and jaccard >= target:
        text += f" ≥ {target:g}"
        if not fields.get("replicates", True):
            text += f" but fewer than {fields.get('min_pairs', 0):g} pairs per half"
    else:
        text += f" < {target:g}"
    low, high = fields.get("jaccard_pairs_min"), fields.get("jaccard_pairs_max")
    if fields.get("splits", 1) > 1 and low is not None and high is not None:
        text += f"; mean of {fields['splits']} splits, {low:.2f}-{high:.2f}"
    return text
