"""Section 3 tables: the numbers from a study's summaries, the paper's rows, the formats."""

from __future__ import annotations

import json
import math

import fabricate as fab
import numpy as np
import pandas as pd
import pytest

from longtail.data import load_study_data
from longtail.data.study_data import make_study_data
from longtail.estimators.estimates import Estimates, write_estimates
from longtail.reporting.tables import (
    OURS,
    PAPER,
    equivalent_text,
    label_noise_display,
    make_label_noise_table,
    marginal_utility_caption,
    marginal_utility_display,
    marginal_utility_table,
    pairs_display,
    pairs_table,
    to_latex,
    to_markdown,
    write_table,
)

ABOUT = {"study": "toy", "dataset": "fashion-mnist", "arch": "mlp", "n": 1000, "n_test": 200,
         "trials": 64, "valid_trials": 64, "m": 700, "subset_ratio": 0.7, "label_noise": 0.1,
         "seed": 0, "train": {"epochs": 2}, "test_accuracy_mean": 0.8,
         "test_accuracy_std": 0.01, "subset_fit": 0.95}
SUMMARY = {"mem_threshold": 0.25, "infl_threshold": 0.15, "n_pairs": 12, "n_test_examples": 10,
           "pct_test_examples": 5.0, "n_test_single_train": 9, "n_train_examples": 7,
           "n_memorized": 150, "pct_memorized": 15.0, "n": 1000, "n_test": 200,
           "n_trials": 64}


def test_pairs_table_ours_then_the_papers():
    table = pairs_table([SUMMARY], [ABOUT])
    assert table["source"].tolist() == [OURS, PAPER, PAPER, PAPER]
    ours = table.iloc[0]
    assert (ours["pairs"], ours["test_examples"], ours["test_single_train"],
            ours["train_examples"], ours["memorized"]) == (12, 10, 9, 7, 150)
    assert ours["test_examples_pct"] == 5.0 and ours["memorized_pct"] == 15.0
    cifar = table[table["study"] == "CIFAR-100"].iloc[0]
    assert (cifar["pairs"], cifar["test_examples"], cifar["test_single_train"]) == (1015, 888, 774)
    assert cifar["test_examples_pct"] == pytest.approx(8.88)
    assert cifar["memorized_pct"] == pytest.approx(100 * 18099 / 50000)
    mnist = table[table["study"] == "MNIST"].iloc[0]
    assert mnist["test_examples_pct"] == pytest.approx(0.33) and math.isnan(mnist["memorized"])
    shown = pairs_display(table)
    assert shown.iloc[0]["study"] == "toy (ours)" and shown.iloc[2]["study"] == "CIFAR-100 (paper)"
    assert shown.iloc[0]["unique test examples (% of test set)"] == "10 (5.00%)"
    assert shown.iloc[2]["mem ≥ 0.25 (% of training set)"] == "18,099 (36.20%)"
    assert shown.iloc[1]["unique training examples"] == "—"
    assert shown.iloc[0]["data, model"] == "Fashion-MNIST, MLP"
    assert shown.iloc[1]["data, model"] == "MNIST, —"
    assert len(pairs_table([SUMMARY], [ABOUT], paper=False)) == 1


def test_marginal_utility_table_formats_percent_mean_std():
    utility = {"models_pairs": 4, "removed_pairs": 7, "accuracy_full_mean": 0.8,
               "accuracy_full_std": 0.01, "drop_pairs_mean": 0.02, "drop_pairs_std": 0.005,
               "drop_random_mean": 0.001, "drop_random_std": 0.004, "pairs_test_examples": 10,
               "pairs_accuracy_before_mean": 0.7, "pairs_accuracy_before_std": 0.05,
               "pairs_accuracy_after_pairs_mean": 0.4, "pairs_accuracy_after_pairs_std": 0.05,
               "pairs_accuracy_after_random_mean": 0.69,
               "pairs_accuracy_after_random_std": math.nan, "equivalent_random": 2345.6,
               "equivalent_random_low": 1900.0, "equivalent_random_high": 2800.0,
               "equivalent_random_beyond": False, "random_removed_max": 8000}
    table = marginal_utility_table([utility], [ABOUT])
    shown = marginal_utility_display(table)
    ours, paper = shown.iloc[0], shown.iloc[1]
    assert ours["drop, pairs' examples removed (%)"] == "2.00 ± 0.50"
    assert ours["their acc. before (%)"] == "70.0 ± 5.0"
    assert ours["after, random removed (%)"] == "69.0"  # no std: one model
    assert paper["study"] == "CIFAR-100 (paper)"
    assert paper["drop, pairs' examples removed (%)"] == "2.46 ± 0.36"
    assert paper["their acc. before (%)"] == "72.1 ± 1.3"
    assert paper["after, pairs' examples removed (%)"] == "45.4 ± 1.4"
    assert paper["drop, as many random removed (%)"] == "—"
    column = "random examples removed for the same drop"
    assert ours[column] == "2,346 (95%: 1,900 to 2,800)"
    assert paper[column] == "11,000"
    open_ended = {**utility, "equivalent_random_high": math.nan}
    assert equivalent_text(open_ended) == "2,346 (95%: 1,900 to more than 8,000)"
    beyond = {**utility, "equivalent_random": math.nan, "equivalent_random_beyond": True}
    assert equivalent_text(beyond) == "more than 8,000 (95%: more than 1,900)"
    assert equivalent_text({**beyond, "equivalent_random_low": math.nan}) == "more than 8,000"
    caption = marginal_utility_caption(table)
    assert caption.count("\n") == 1 and "as much as removing 2,346 (95%" in caption


def test_markdown_and_latex():
    shown = pd.DataFrame({"study": ["a|b"], "acc. (%)": ["1.0 ± 0.5"], "mem ≥ 0.25": ["3"]})
    md = to_markdown(shown, "Title", ["note one", "note two"])
    lines = md.splitlines()
    assert lines[0] == "**Title**" and lines[2] == "| study | acc. (%) | mem ≥ 0.25 |"
    assert lines[3] == "|---|---|---|" and lines[4] == r"| a\|b | 1.0 ± 0.5 | 3 |"
    assert "note one\n\nnote two" in md  # separate paragraphs
    tex = to_latex(shown, "Cap 5%", "tab:x")
    assert r"\caption{Cap 5\%}" in tex and r"\label{tab:x}" in tex
    assert r"acc. (\%) & mem $\geq$ 0.25 \\" in tex and r"1.0 $\pm$ 0.5" in tex
    assert tex.count(r"\toprule") == 1 and r"\begin{tabular}{llr}" in tex


def test_write_table_writes_every_format(tmp_path):
    numbers = pd.DataFrame({"x": [1.5]})
    paths = {ext: tmp_path / f"t.{ext}" for ext in ("csv", "md", "tex", "html")}
    write_table(numbers, pd.DataFrame({"x": ["1.5"]}), paths, "T", "tab:t", ["n"])
    assert pd.read_csv(paths["csv"])["x"].tolist() == [1.5]
    assert "<td>1.5</td>" in paths["html"].read_text()
    assert paths["md"].read_text().startswith("**T**")
    assert paths["tex"].read_text().startswith(r"\begin{table}")


def _noise_study(tmp_path):
    """estimates.h5, data.h5 (through the real writers, half the labels flipped) and
    about.json of a 6-example study: mem~ .95, .9, .2 on the flipped, .1, 0, .6 on the clean."""
    fab.synthetic_cache(tmp_path / "cache.h5", np.arange(6) % 3, np.arange(2) % 3,
                        num_classes=3)
    make_study_data(tmp_path / "cache.h5", tmp_path / "data.h5", n_train=6, n_test=2,
                    label_noise=0.5, seed=0)
    flipped = load_study_data(tmp_path / "data.h5").train_label_flipped
    mem = np.zeros(len(flipped))
    mem[flipped], mem[~flipped] = [0.95, 0.9, 0.2], [0.1, 0.0, 0.6]
    n = len(mem)
    estimates = Estimates(mem=mem, mem_se=np.zeros(n), n_in=np.ones(n, np.int64),
                          n_out=np.ones(n, np.int64), train_labels=np.zeros(n, np.int64),
                          test_labels=np.zeros(2, np.int64),
                          train_source_index=np.arange(n), test_source_index=np.arange(2),
                          excluded_trials=np.zeros(0, np.int64), attrs={"influence": "none"})
    write_estimates(tmp_path / "estimates.h5", estimates)
    (tmp_path / "about.json").write_text(json.dumps({**ABOUT, "n": n, "label_noise": 0.5}))
    return tmp_path


def test_label_noise_table_from_files(tmp_path):
    study = _noise_study(tmp_path)
    paths = {ext: tmp_path / f"label_noise.{ext}" for ext in ("csv", "md", "tex", "html")}
    numbers = make_label_noise_table([study / "estimates.h5"], [study / "data.h5"],
                                     [study / "about.json"], paths)
    row = numbers.iloc[0]
    assert row["n_flipped"] == 3 and row["precision_at_k"] == pytest.approx(2 / 3)
    # .95 and .9 beat all three clean (.1, 0, .6); .2 beats .1 and 0: 8 of 9 pairs
    assert row["auroc"] == pytest.approx(8 / 9)
    assert pd.read_csv(paths["csv"])["auroc"].iloc[0] == pytest.approx(8 / 9, abs=1e-6)
    shown = label_noise_display(numbers)
    assert shown.iloc[0]["AUROC of mem~"] == "0.889"
    assert "| toy |" in paths["md"].read_text()


def test_label_noise_figure_from_files(tmp_path):
    from longtail.reporting.figures import make_label_noise

    study = _noise_study(tmp_path)
    make_label_noise(["toy"], [study / "estimates.h5"], [study / "data.h5"],
                     [study / "about.json"], tmp_path / "noise.pdf", tmp_path / "noise.png",
                     {"bins": 10, "log": True})
    assert (tmp_path / "noise.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "noise.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="lists no studies"):
        make_label_noise([], [], [], [], tmp_path / "x.pdf", tmp_path / "x.png",
                         {"bins": 10, "log": True})


def test_tables_built_on_pairs_that_do_not_replicate_say_so():
    from longtail.reporting.tables import replication_warning

    assert replication_warning("s", {"replicates": True, "jaccard_pairs": 0.8}) == ""
    assert replication_warning("s", {}) == ""  # no reliability report (released estimates)
    text = replication_warning("s", {"replicates": False, "jaccard_pairs": 0.33,
                                     "replicates_target": 0.7})
    assert "do not replicate (split-half Jaccard 0.33 < 0.7)" in text
    assert "not comparable with the paper's" in text
