"""The paper's Section 3 numbers as tables (CSV, Markdown, LaTeX, HTML), with the paper's own
numbers for MNIST / CIFAR-100 / ImageNet beside ours, labelled as the paper's.

* ``pairs``: high-influence pairs, unique test examples (and % of the test set), those
  influenced by a single training example, unique training examples and examples with
  mem~ >= θ_mem (and % of the training set).
* ``marginal_utility``: removing the unique training examples of the pairs vs the same number
  at random (accuracy drop, mean +- std over the R removal models), the accuracy on the
  pairs' test examples before and after, and the number of random examples whose removal costs
  as much (with its 95% interval; the paper's: :data:`longtail.reporting.quoted.EQUIVALENT_RANDOM`).
* ``label_noise`` (beyond the paper): mem~ as a detector of flipped labels.

The CSV holds numbers (fractions, counts) and a ``source`` column; the other formats hold the
same rows formatted for reading (percentages, mean +- std).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from longtail.estimators.estimates import FIT_PREMISE, fit_report, read_estimates
from longtail.estimators.removal import LEVEL, marginal_utility, random_removal_curve, read_removal
from longtail.labels.noise import compare_detectors
from longtail.reporting import paper as quoted  # `paper` names the tables' row switch
from longtail.reporting.inputs import by_study, read_label_noise
from longtail.reporting.provenance import ARCH_NAMES, DATASET_NAMES
from longtail.reporting.reliability import jaccard_verdict
from longtail.store.io import write_csv, write_text

OURS = "this run"
PAPER = "paper"
# Whether the selection replicates (longtail.estimators.reliability) and the second reading of
# "influenced by a single training example" (of any mem); NaN / empty for the paper's rows.
PAIRS_RELIABILITY_COLUMNS = ("test_single_train_any_mem", "jaccard_pairs", "jaccard_memorized",
                             "pairs_chance", "replicates", "replicates_target",
                             "infl_threshold_mode", "splits", "jaccard_pairs_min",
                             "jaccard_pairs_max", "jaccard_pairs_std", "min_pairs")
PAIRS_COLUMNS = ("source", "study", "dataset", "model", "n", "n_test", "trials", "pairs",
                 "test_examples", "test_examples_pct", "test_single_train", "train_examples",
                 "memorized", "memorized_pct", "mem_threshold", "infl_threshold",
                 *PAIRS_RELIABILITY_COLUMNS)
MARGINAL_COLUMNS = ("source", "study", "dataset", "model", "n", "models", "removed_pairs",
                    "accuracy_full_mean", "accuracy_full_std", "drop_pairs_mean",
                    "drop_pairs_std", "drop_random_mean", "drop_random_std",
                    "pairs_test_examples", "pairs_accuracy_before_mean",
                    "pairs_accuracy_before_std", "pairs_accuracy_after_pairs_mean",
                    "pairs_accuracy_after_pairs_std", "pairs_accuracy_after_random_mean",
                    "pairs_accuracy_after_random_std", "equivalent_random",
                    "equivalent_random_low", "equivalent_random_high",
                    "equivalent_random_beyond", "random_removed_max")
NOISE_COLUMNS = ("source", "study", "dataset", "model", "n", "label_noise", "n_flipped",
                 "auroc", "precision_at_k", "k", "average_precision", "mem_flipped_mean",
                 "mem_clean_mean", "auroc_inconsistency", "precision_at_k_inconsistency",
                 "average_precision_inconsistency", "best_detector", "best_auroc",
                 "n_flipped_suggested", "suggested_original", "suggested_original_share",
                 "models_fit", "models_fit_flipped", "models_test_accuracy")


def _study_columns(about: Mapping[str, Any]) -> dict[str, Any]:
    return {"source": OURS, "study": about["study"], "dataset": about["dataset"],
            "model": about["arch"], "n": about["n"]}


def _pct(count: float, total: float) -> float:
    return 100.0 * count / total if total else math.nan


# ---------------------------------------------------------------- the numbers


def pairs_table(summaries: Sequence[Mapping[str, Any]], abouts: Sequence[Mapping[str, Any]],
                paper: bool = True) -> pd.DataFrame:
    """One row per study from its pair-selection summary (``summary.json``) and description,
    then the paper's rows."""
    rows = []
    for summary, about in zip(summaries, abouts, strict=True):
        rows.append({**_study_columns(about), "n_test": summary["n_test"],
                     "trials": summary["n_trials"], "pairs": summary["n_pairs"],
                     "test_examples": summary["n_test_examples"],
                     "test_examples_pct": summary["pct_test_examples"],
                     "test_single_train": summary["n_test_single_train"],
                     "train_examples": summary["n_train_examples"],
                     "memorized": summary["n_memorized"], "memorized_pct": summary["pct_memorized"],
                     "mem_threshold": summary["mem_threshold"],
                     "infl_threshold": summary["infl_threshold"],
                     **pairs_reliability(summary)})
    if paper:
        for row in quoted.PAIRS:
            rows.append({**row, "source": PAPER,
                         "test_examples_pct": _pct(row["test_examples"], row["n_test"]),
                         "memorized_pct": _pct(row.get("memorized", math.nan), row["n"]),
                         "mem_threshold": quoted.MEM_THRESHOLD,
                         "infl_threshold": quoted.INFL_THRESHOLD})
    return pd.DataFrame(rows, columns=list(PAIRS_COLUMNS))


def pairs_reliability(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The reliability columns of one study's pairs row (missing in older summaries: NaN)."""
    keys = {"test_single_train_any_mem": "n_test_single_train_any_mem",
            "jaccard_pairs": "jaccard_pairs", "jaccard_memorized": "jaccard_memorized",
            "pairs_chance": "n_pairs_chance", "replicates": "replicates",
            "replicates_target": "replicates_target",
            "infl_threshold_mode": "infl_threshold_mode", "splits": "splits",
            "jaccard_pairs_min": "jaccard_pairs_min", "jaccard_pairs_max": "jaccard_pairs_max",
            "jaccard_pairs_std": "jaccard_pairs_std", "min_pairs": "min_pairs"}
    return {column: math.nan if summary.get(key) is None else summary[key]
            for column, key in keys.items()}


def _jaccards(row: Mapping[str, Any]) -> str:
    values = [row.get("jaccard_pairs"), row.get("jaccard_memorized")]
    if all(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return "—"
    return " / ".join("—" if v is None or (isinstance(v, float) and math.isnan(v))
                      else f"{v:.2f}" for v in values)


def _spread(row: Mapping[str, Any]) -> str:
    low, high, splits = (row.get(key) for key in ("jaccard_pairs_min", "jaccard_pairs_max",
                                                   "splits"))
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (low, high, splits)):
        return "—"
    return f"{low:.2f}-{high:.2f} ({int(splits)} splits)"


def _replicates(row: Mapping[str, Any]) -> str:
    value = row.get("replicates")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    target = row.get("replicates_target", quoted.JACCARD_TARGET)
    return f"yes (≥ {target:g})" if bool(value) else f"NO: does not replicate (< {target:g})"


def _chance(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.1f}"


def marginal_utility_table(utilities: Sequence[Mapping[str, Any]],
                           abouts: Sequence[Mapping[str, Any]], paper: bool = True
                           ) -> pd.DataFrame:
    """One row per study from :func:`longtail.estimators.removal.marginal_utility`, then the
    paper's."""
    rows = []
    for utility, about in zip(utilities, abouts, strict=True):
        rows.append({**_study_columns(about), "models": utility["models_pairs"],
                     **{key: utility[key] for key in MARGINAL_COLUMNS[6:]}})
    if paper:
        rows += [{**row, "source": PAPER} for row in quoted.MARGINAL_UTILITY]
    return pd.DataFrame(rows, columns=list(MARGINAL_COLUMNS))


def label_noise_table(metrics: Sequence[Mapping[str, Any]], abouts: Sequence[Mapping[str, Any]]
                      ) -> pd.DataFrame:
    """One row per study from :func:`longtail.labels.noise.compare_detectors` and the models' fit
    (:func:`longtail.estimators.estimates.fit_report`); NaN for what a study's estimates lack."""
    rows = [{**_study_columns(about), "label_noise": about["label_noise"],
             **{key: m.get(key, math.nan) for key in NOISE_COLUMNS[6:]}}
            for m, about in zip(metrics, abouts, strict=True)]
    return pd.DataFrame(rows, columns=list(NOISE_COLUMNS))


# ---------------------------------------------------------------- formatting


def _count(value: Any) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{int(value):,}"


def _count_pct(count: Any, pct: Any) -> str:
    if count is None or (isinstance(count, float) and math.isnan(count)):
        return "—"
    return f"{int(count):,} ({pct:.2f}%)"


def _pm(mean: Any, std: Any, scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± std' (in percent by default); '—' when missing, no ± for one model."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def _source(row: Mapping[str, Any]) -> str:
    return f"{row['study']} ({'paper' if row['source'] == PAPER else 'ours'})"


def _data_model(row: Mapping[str, Any]) -> str:
    model = ARCH_NAMES.get(row["model"], row["model"]) or "—"
    return f"{DATASET_NAMES.get(row['dataset'], row['dataset'])}, {model}"


def pairs_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`pairs_table` formatted for reading."""
    theta = table["mem_threshold"].iloc[0] if len(table) else quoted.MEM_THRESHOLD
    rows = [{"study": _source(row), "data, model": _data_model(row),
             "n / n_test": f"{int(row['n']):,} / {int(row['n_test']):,}",
             "t": _count(row["trials"]), "pairs": _count(row["pairs"]),
             "unique test examples (% of test set)":
                 _count_pct(row["test_examples"], row["test_examples_pct"]),
             "of those, influenced by a single training example":
                 _count(row["test_single_train"]),
             "of those, a single influencer of any mem":
                 _count(row["test_single_train_any_mem"]),
             "unique training examples": _count(row["train_examples"]),
             f"mem ≥ {theta:g} (% of training set)":
                 _count_pct(row["memorized"], row["memorized_pct"]),
             "θ_mem / θ_infl": _thresholds(row),
             "split-half Jaccard, pairs / memorized": _jaccards(row),
             "pairs' Jaccard over the splits (min-max)": _spread(row),
             "pairs expected by chance": _chance(row["pairs_chance"]),
             "pairs replicate": _replicates(row)}
            for row in table.to_dict("records")]
    return pd.DataFrame(rows)


def _thresholds(row: Mapping[str, Any]) -> str:
    auto = " (auto)" if row.get("infl_threshold_mode") == "auto" else ""
    return f"{row['mem_threshold']:g} / {row['infl_threshold']:g}{auto}"


def marginal_utility_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`marginal_utility_table` formatted for reading (accuracies in %)."""
    rows = []
    for row in table.to_dict("records"):
        rows.append({
            "study": _source(row), "data, model": _data_model(row),
            "R": _count(row["models"]), "training examples removed": _count(row["removed_pairs"]),
            "test acc., full set (%)": _pm(row["accuracy_full_mean"], row["accuracy_full_std"]),
            "drop, pairs' examples removed (%)": _pm(row["drop_pairs_mean"],
                                                     row["drop_pairs_std"], digits=2),
            "drop, as many random removed (%)": _pm(row["drop_random_mean"],
                                                    row["drop_random_std"], digits=2),
            "pairs' test examples": _count(row["pairs_test_examples"]),
            "their acc. before (%)": _pm(row["pairs_accuracy_before_mean"],
                                         row["pairs_accuracy_before_std"]),
            "after, pairs' examples removed (%)": _pm(row["pairs_accuracy_after_pairs_mean"],
                                                      row["pairs_accuracy_after_pairs_std"]),
            "after, random removed (%)": _pm(row["pairs_accuracy_after_random_mean"],
                                             row["pairs_accuracy_after_random_std"]),
            "random examples removed for the same drop": equivalent_text(row)})
    return pd.DataFrame(rows)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def equivalent_text(row: Mapping[str, Any]) -> str:
    """The random count equivalent to removing the pairs' examples, for reading: 'N (95%:
    L–H)', 'more than K' beyond the largest random removal run, '—' when not run."""
    largest, low, high = (row.get(key) for key in (
        "random_removed_max", "equivalent_random_low", "equivalent_random_high"))
    beyond = row.get("equivalent_random_beyond")
    if not _missing(beyond) and bool(beyond):
        bound = "" if _missing(low) else f" (95%: more than {low:,.0f})"
        return f"more than {largest:,.0f}{bound}"
    count = row.get("equivalent_random")
    if _missing(count):
        return "—"
    if _missing(low):
        return f"{count:,.0f}"
    upper = f"more than {largest:,.0f}" if _missing(high) else f"{high:,.0f}"
    return f"{count:,.0f} (95%: {low:,.0f} to {upper})"


def label_noise_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`label_noise_table` formatted for reading."""
    rows = [{"study": row["study"], "data, model": _data_model(row),
             "n": _count(row["n"]), "labels flipped": f"{_count(row['n_flipped'])} "
             f"({100 * row['label_noise']:.0f}%)", "AUROC of mem~": f"{row['auroc']:.3f}",
             "precision at k = flipped": f"{row['precision_at_k']:.3f}",
             "average precision": f"{row['average_precision']:.3f}",
             "mean mem~, flipped / clean": f"{row['mem_flipped_mean']:.2f} / "
                                           f"{row['mem_clean_mean']:.2f}",
             "AUROC of 1 - p_out": _fraction(row["auroc_inconsistency"]),
             "suggested label = original (flipped)": _share_of(
                 row["suggested_original"], row["n_flipped"], row["suggested_original_share"]),
             "fit: subset / flipped in subset": f"{_fraction(row['models_fit'], pct=True)} / "
                                                f"{_fraction(row['models_fit_flipped'], pct=True)}"}
            for row in table.to_dict("records")]
    return pd.DataFrame(rows)


def _fraction(value: Any, pct: bool = False) -> str:
    if _missing(value):
        return "—"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def _share_of(count: Any, total: Any, share: Any) -> str:
    if _missing(share):
        return "—"
    return f"{int(count):,} of {int(total):,} ({100 * share:.1f}%)"


def write_markdown(text: str, path: str | os.PathLike) -> None:
    """Write a Markdown text atomically."""
    write_text(path, text)


def to_markdown(display: pd.DataFrame, title: str, notes: Sequence[str] = ()) -> str:
    """A Markdown (GitHub) table with a title line and notes below."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|")
    header = "| " + " | ".join(cell(c) for c in display.columns) + " |"
    rule = "|" + "|".join("---" for _ in display.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in display.itertuples(index=False)]
    paragraphs = "\n\n".join(note for note in notes if note)
    return "\n".join([f"**{title}**", "", header, rule, *body, "", paragraphs]).rstrip() + "\n"


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "±": r"$\pm$",
                  "≥": r"$\geq$", "—": "---", "~": r"\textasciitilde{}", "θ": r"$\theta$"}


def _latex(value: Any) -> str:
    text = str(value)
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(display: pd.DataFrame, caption: str, label: str, notes: Sequence[str] = ()) -> str:
    """A booktabs LaTeX table (``\\usepackage{booktabs}``) with caption and label."""
    columns = "l" * 2 + "r" * (len(display.columns) - 2)
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             rf"\caption{{{_latex(caption)}}}", rf"\label{{{label}}}",
             r"\resizebox{\textwidth}{!}{%", rf"\begin{{tabular}}{{{columns}}}", r"\toprule",
             " & ".join(_latex(c) for c in display.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex(v) for v in row) + r" \\"
              for row in display.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}}"]
    lines += [rf"\par\smallskip\footnotesize {_latex(note)}" for note in notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_html(display: pd.DataFrame, title: str, notes: Sequence[str] = ()) -> str:
    """A standalone HTML page with the table (for the Snakemake report)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in display.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in display.itertuples(index=False))
    notes_html = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
    style = ("body{font-family:sans-serif;font-size:14px}table{border-collapse:collapse}"
             "td,th{border-bottom:1px solid #ccc;padding:4px 8px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body><h3>{html.escape(title)}</h3>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes_html}"
            f"</body></html>\n")


def write_table(numbers: pd.DataFrame, display: pd.DataFrame,
                paths: Mapping[str, str | os.PathLike], title: str, label: str,
                notes: Sequence[str] = ()) -> None:
    """Write ``numbers`` as CSV and ``display`` as Markdown, LaTeX and HTML, each atomically
    (``paths`` keys: csv, md, tex, html)."""
    texts = {"md": to_markdown(display, title, notes),
             "tex": to_latex(display, title, label, notes),
             "html": to_html(display, title, notes)}
    write_csv(paths["csv"], numbers, float_format="%.6g")
    for key, text in texts.items():
        write_text(paths[key], text)


def paper_note(table: pd.DataFrame) -> str:
    """The note that says which rows are the paper's."""
    if not (table["source"] == PAPER).any():
        return ""
    return (f"Rows marked (paper) are the numbers reported in {quoted.CITATION}; '—' where the "
            f"paper gives none. Rows marked (ours) come from this run.")



EQUIVALENT_NOTE = (
    f"Random examples removed for the same drop: the number k of training examples removed "
    f"uniformly at random whose mean test accuracy equals that of the models without the pairs' "
    f"examples (equal accuracy is an equal drop; the full-set baseline cancels), by linear "
    f"interpolation in k between the random removals run (k = 0: the full set; the pairs' own "
    f"random runs; removal.random_fractions). {LEVEL:.0%} interval: every k at which Welch's "
    f"test does not reject equal accuracy (interpolated accuracy and its standard error vs the "
    f"pairs' mean and standard error over R models, Welch-Satterthwaite df). 'More than K' "
    f"where the drop exceeds that of the largest random removal run, K, which is not "
    f"extrapolated.")


def random_curve_note(study: str, curve: pd.DataFrame) -> str:
    """The random-removal curve behind the equivalent count, one 'k: accuracy' per size."""
    points = "; ".join(f"k = {row['removed']:,}: {_pm(row['accuracy_mean'], row['accuracy_std'])}"
                       for row in curve.to_dict("records"))
    return (f"{study}, test accuracy (%) after removing k random training examples (mean ± std "
            f"over the models): {points}.")


def marginal_utility_caption(table: pd.DataFrame) -> str:
    """reStructuredText lines for the report caption: per study of ours, the pairs' removal
    and the number of random examples that costs as much."""
    lines = []
    for row in table[table["source"] == OURS].to_dict("records"):
        drop = _pm(row["drop_pairs_mean"], row["drop_pairs_std"], digits=2)
        lines.append(f"- {row['study']}: removing the pairs' {int(row['removed_pairs']):,} "
                     f"training examples costs {drop}% test accuracy, as much as removing "
                     f"{equivalent_text(row)} random examples (n = {int(row['n']):,}).")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the table stage


def _read_json(path: str | os.PathLike) -> dict[str, Any]:
    with open(path) as fh:
        return json.load(fh)


def make_pairs_table(summaries: Sequence[str | os.PathLike], about: Sequence[str | os.PathLike],
                     paths: Mapping[str, str | os.PathLike]) -> pd.DataFrame:
    """tables/pairs from each study's ``summary.json`` and ``about.json``."""
    summaries, abouts = [_read_json(p) for p in summaries], [_read_json(p) for p in about]
    numbers = pairs_table(summaries, abouts)
    write_table(numbers, pairs_display(numbers), paths,
                "High-influence pairs (mem ≥ θ_mem, infl ≥ θ_infl, same class)", "tab:pairs",
                [paper_note(numbers), *pairs_reliability_notes(summaries, abouts)])
    return numbers


def pairs_reliability_notes(summaries: Sequence[Mapping[str, Any]],
                            abouts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per study, whether its selection replicates, in words; then how that is measured."""
    notes = [f"{about['study']}: {summary['reliability_note']}"
             for summary, about in zip(summaries, abouts, strict=True)
             if summary.get("reliability_note")]
    if notes:
        notes.append(
            "Split-half Jaccard: the valid trials split at random into two halves, the "
            "selection made on each, |A ∩ B| / |A ∪ B| of the two pair sets and of the two "
            "memorized sets, mean over several random splits (their min-max beside it; the "
            "pairs replicate when the mean reaches the target with enough pairs per half) "
            f"(Section 2: the paper chose θ_infl = {quoted.INFL_THRESHOLD:g} where "
            f"this reaches {quoted.JACCARD_TARGET:g} on CIFAR-100 with 2 x 2,000 trials). "
            "'A single influencer of any mem': of the pairs' "
            "test examples, those on which exactly one same-class training example, memorized "
            "or not, has infl ≥ θ_infl (the other reading of the paper's sentence).")
    return notes


def replication_warning(study: str, summary: Mapping[str, Any]) -> str:
    """Words for a table built on pairs that do not replicate
    (:mod:`longtail.estimators.reliability`); empty when they do or when the summary carries no
    reliability."""
    if summary.get("replicates", True):
        return ""
    return (f"{study}: these pairs do not replicate ({jaccard_verdict(summary)}), "
            f"so the numbers measure removing this "
            f"particular selection and are not comparable with the paper's.")


def make_marginal_utility_table(studies: Sequence[str], removal: Sequence[str | os.PathLike],
                                pairs: Sequence[str | os.PathLike],
                                about: Sequence[str | os.PathLike],
                                paths: Mapping[str, str | os.PathLike],
                                summaries: Sequence[str | os.PathLike] = ()) -> pd.DataFrame:
    """tables/marginal_utility from each study's removal runs (parts ``full`` and ``pairs``)
    and its pairs; with the studies' ``summary.json``, a note for pairs that do not
    replicate."""
    shards = by_study(removal, studies)
    results = [read_removal(shards[study]) for study in studies]
    utilities = [marginal_utility(result, pd.read_csv(pairs_path)["test_index"].to_numpy())
                 for result, pairs_path in zip(results, pairs, strict=True)]
    numbers = marginal_utility_table(utilities, [_read_json(p) for p in about])
    notes = ["Drop: mean test accuracy of R models on the full training set minus the accuracy "
             "of each of R models trained without the removed examples (mean ± std over those R "
             "models). Before/after: accuracy on the unique test examples of the pairs.",
             EQUIVALENT_NOTE,
             *[random_curve_note(study, random_removal_curve(result))
               for study, result in zip(studies, results, strict=True)],
             paper_note(numbers), quoted.MARGINAL_NOTE]
    warnings = [replication_warning(study, _read_json(path))
                for study, path in zip(studies, summaries, strict=True)]
    warnings = [text for text in warnings if text]
    write_table(numbers, marginal_utility_display(numbers), paths,
                "Marginal utility of the pairs' training examples", "tab:marginal-utility",
                [*warnings, *notes])
    if paths.get("rst"):
        write_text(paths["rst"], marginal_utility_caption(numbers) + "".join(
            f"\n{text}\n" for text in warnings))
    return numbers


def make_label_noise_table(estimates: Sequence[str | os.PathLike],
                           data: Sequence[str | os.PathLike], about: Sequence[str | os.PathLike],
                           paths: Mapping[str, str | os.PathLike]) -> pd.DataFrame:
    """tables/label_noise: mem~ as a detector of the flipped labels of each study."""
    metrics = []
    for est_path, data_path in zip(estimates, data, strict=True):
        est = read_estimates(est_path)
        flipped, original = read_label_noise(data_path)
        metrics.append({**compare_detectors(est.mem, est.p_out, est.suggested_label, flipped,
                                            original),
                        **fit_report(est.attrs)})
    numbers = label_noise_table(metrics, [_read_json(p) for p in about])
    notes = ["Beyond the paper: training labels flipped at random; each detector ranks the "
             "training examples. AUROC: probability that a flipped example scores higher than "
             "a clean one (ties count one half); precision at k: share of flipped labels among "
             "the k highest scores, k = the number flipped. mem~ = p_in - p_out (Alg. 1 line "
             "5); 1 - p_out: the share of models trained without the example that disagree "
             "with its label (one minus the empirical consistency score). Suggested label: the "
             "class those held-out models predict most often. Fit: the models' accuracy on "
             "their own subsets, and on the flipped labels in them (Section 1: standard "
             "training fits 95-100% of the training set)."]
    for row in numbers.to_dict("records"):
        if not _missing(row["models_fit"]) and row["models_fit"] < FIT_PREMISE:
            notes.append(f"Warning ({row['study']}): the models fit only "
                         f"{100 * row['models_fit']:.1f}% of their subsets; flipped labels "
                         f"they do not fit get mem~ near 0.")
    write_table(numbers, label_noise_display(numbers), paths,
                "Memorization estimates as a detector of flipped labels", "tab:label-noise",
                notes)
    return numbers
