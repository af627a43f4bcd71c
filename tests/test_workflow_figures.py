"""End to end: every figure and table of the tiny study, the removal runs behind them, and
what a change of plotting options or thresholds makes Snakemake redo."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, planned_jobs, snakemake

from longtail.estimators.estimates import read_estimates
from longtail.estimators.removal import read_removal
from longtail.estimators.select import is_memorized
from longtail.store.correctness import read_store

pytestmark = pytest.mark.e2e

FIGURES = ("fig1", "fig2", "fig3", "figC1", "mem_hist", "consistency")
TABLES = ("pairs", "marginal_utility")


def changed_config(tmp: Path, name: str, edit: Callable[[dict], None]) -> Path:
    """The tiny config with ``edit`` applied, its keys kept in their order: rules whose params
    are config mappings compare them as text, so a reordering alone would look like a change."""
    config = yaml.safe_load(TINY.read_text())
    edit(config)
    path = tmp / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_every_figure_and_table_is_built(tiny_study):
    for name in FIGURES:
        assert (tiny_study / "figures" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        assert (tiny_study / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    for name in TABLES:
        for ext in ("csv", "md", "tex", "html"):
            assert (tiny_study / "tables" / f"{name}.{ext}").stat().st_size > 0
    assert not (tiny_study / "figures" / "label_noise.pdf").exists()  # not configured


def test_removal_runs_remove_the_memorized_examples(tiny_study):
    results = tiny_study / "results" / "tiny"
    estimates = read_estimates(results / "estimates.h5")
    runs = read_removal(sorted((results / "removal").glob("*/*.h5")))
    repeats = 2
    assert sorted(set(runs.part)) == ["full", "mem-0.25", "mem-0.75", "pairs", "random-0.2",
                                      "random-0.5"]
    assert len(runs.kind) == repeats * (1 + 2 + 2 + 2 + 1 + 1) and not runs.diverged.any()
    for fraction, removed in ((0.2, 60), (0.5, 150)):
        kept = runs.mask[runs.part == f"random-{fraction}"].sum(axis=1)
        assert kept.tolist() == [300 - removed] * repeats
    for threshold in (0.25, 0.75):
        part = runs.part == f"mem-{threshold}"
        memorized = part & (runs.kind == "memorized")
        kept = ~is_memorized(estimates, threshold)
        np.testing.assert_array_equal(runs.mask[memorized],
                                      np.repeat(kept[None], repeats, axis=0))
        random = runs.mask[part & (runs.kind == "random")]
        assert (random.sum(axis=1) == kept.sum()).all()
    assert runs.mask[runs.part == "full"].all() and runs.mask.shape[1] == 300
    pairs = pd.read_csv(results / "pairs.csv")
    removed = ~runs.mask[(runs.part == "pairs") & (runs.kind == "pairs")]
    assert (removed.sum(axis=1) == pairs["train_index"].nunique()).all()
    # removal models never reuse a trial's seed
    assert not set(runs.seed.tolist()) & set(read_store(results / "correctness.h5")
                                              .trials.trial_seed.tolist())


def test_fig2_and_tables_hold_the_runs_numbers(tiny_study):
    fig2 = pd.read_csv(tiny_study / "figures" / "fig2.csv")
    assert fig2["kind"].tolist() == ["full", "memorized", "random", "memorized", "random"]
    assert (fig2["models"] == 2).all()
    memorized = fig2[fig2["kind"] == "memorized"]
    assert (memorized["difference_low"] <= memorized["difference_mean"]).all()
    assert (memorized["difference_mean"] <= memorized["difference_high"]).all()
    assert fig2.loc[fig2["kind"] != "memorized", "difference_mean"].isna().all()
    caption = (tiny_study / "figures" / "fig2.rst").read_text()
    assert caption.count("95% CI") == len(memorized) or "no interval" in caption
    summary = json.loads((tiny_study / "results" / "tiny" / "summary.json").read_text())
    table = pd.read_csv(tiny_study / "tables" / "pairs.csv")
    ours = table[table["source"] == "this run"].iloc[0]
    assert (ours["pairs"], ours["train_examples"], ours["memorized"]) == (
        summary["n_pairs"], summary["n_train_examples"], summary["n_memorized"])
    assert "CIFAR-100 (paper)" in (tiny_study / "tables" / "pairs.md").read_text()
    utility = pd.read_csv(tiny_study / "tables" / "marginal_utility.csv").iloc[0]
    assert utility["removed_pairs"] == summary["n_train_examples"]
    assert utility["accuracy_full_mean"] == pytest.approx(
        fig2.loc[fig2["kind"] == "full", "accuracy_mean"].iloc[0], abs=1e-5)
    assert utility["random_removed_max"] == 150
    # an equivalent count in [0, 150], or "more than 150" when the pairs' drop is beyond it
    assert utility["equivalent_random_beyond"] or 0 <= utility["equivalent_random"] <= 150
    assert "random examples removed for the same drop" in \
        (tiny_study / "tables" / "marginal_utility.md").read_text()
    assert "random examples (n = 300)" in \
        (tiny_study / "tables" / "marginal_utility.rst").read_text()


def test_every_selection_reports_whether_it_replicates(tiny_study):
    results = tiny_study / "results" / "tiny"
    summary = json.loads((results / "summary.json").read_text())
    report = json.loads((results / "reliability.json").read_text())
    assert (summary["mem_threshold"], summary["infl_threshold"]) == (0.25, 0.15)
    assert summary["infl_threshold_mode"] == "fixed" and summary["replicates_target"] == 0.7
    assert summary["replicates"] == (summary["jaccard_pairs"] is not None
                                     and summary["jaccard_pairs"] >= 0.7
                                     and min(summary["split_half_pairs"][:2]) >= 20)
    assert summary["jaccard_pairs"] == report["infl"]["jaccard"]
    assert (summary["splits"], report["splits"], summary["min_pairs"]) == (10, 10, 20)
    assert summary["n_pairs_chance"] == report["chance"]["at_used"] >= 0
    assert summary["n_test_single_train_any_mem"] <= summary["n_test_single_train"]
    note = (results / "selection.rst").read_text()
    assert note.strip() == summary["reliability_note"] and "split-half Jaccard" in note
    markdown = (tiny_study / "tables" / "pairs.md").read_text()
    assert "split-half Jaccard, pairs / memorized" in markdown and "tiny: The " in markdown
    consistency = pd.read_csv(results / "consistency.csv")
    assert 0.15 in consistency["threshold"].tolist()
    assert {"jaccard_min", "jaccard_max", "jaccard_std", "jaccard_splits"} <= \
        set(consistency.columns)


def test_a_plotting_option_redraws_only_its_figure(tiny_study, tmp_path):
    config = changed_config(tmp_path, "plots.yaml",
                            lambda c: c.setdefault("plots", {}).update(fig1={"per_group": 2}))
    jobs = planned_jobs(snakemake(tiny_study, config, "--dry-run"))
    assert set(jobs) - {"all"} == {"plot_fig1"}


def test_new_thresholds_reselect_and_redraw_without_retraining_trials(tiny_study, tmp_path):
    config = changed_config(tmp_path, "thr.yaml",
                            lambda c: c["thresholds"].update(mem=0.3, infl=0.2))
    proc = snakemake(tiny_study, config, "--dry-run")
    jobs = planned_jobs(proc)
    assert "train_trial_shard" not in jobs and "estimate_memorization" not in jobs
    assert {"select_high_influence_pairs", "plot_fig3", "plot_figC1", "tabulate_pairs",
            "tabulate_marginal_utility"} <= set(jobs)
    assert "plot_fig2" not in jobs  # Fig. 2's removal runs depend on removal.thresholds only
    # only the pairs' removal (it removes the pairs' training examples) trains again
    assert jobs.get("train_removal_shard") == 1
    text = proc.stdout + proc.stderr
    assert "removal/pairs/0-2.h5" in text and "removal/mem-" not in text


def test_a_new_removal_threshold_trains_only_its_runs(tiny_study, tmp_path):
    config = changed_config(tmp_path, "removal.yaml", lambda c: c["studies"]["tiny"]["removal"]
                            .update(thresholds=[0.25, 0.5, 0.75]))
    proc = snakemake(tiny_study, config, "--dry-run")
    jobs = planned_jobs(proc)
    assert jobs.get("train_removal_shard") == 1
    assert "removal/mem-0.5/0-2.h5" in proc.stdout + proc.stderr
    assert set(jobs) - {"all"} == {"train_removal_shard", "plot_fig2"}


def test_report_has_every_figure_and_table_with_captions(tiny_study):
    snakemake(tiny_study, TINY, "--report", "report.html")
    html = (tiny_study / "report.html").read_text()
    for name in (*FIGURES, *TABLES):
        assert f"{name}." in html
    assert "Marginal utility of memorized examples" in html  # Fig. 2's caption
    assert "memorized - random = " in html  # its intervals, included from figures/fig2.rst
    assert "of their own training subsets" in html  # the study description it includes


def test_auto_threshold_reselects_without_retraining(tiny_study, tmp_path):
    """Last: runs in a copy of the study, so the tests above see the tiny config's state."""
    work = tmp_path / "work"
    shutil.copytree(tiny_study, work, symlinks=True)
    config = changed_config(tmp_path, "auto.yaml", lambda c: c["thresholds"].update(
        infl="auto", grid={"infl": [0.1, 0.2, 0.3, 0.4, 0.5]}))
    jobs = planned_jobs(snakemake(work, config, "--dry-run", "tables/pairs.md",
                                  "figures/consistency.pdf", "figures/fig3.pdf"))
    assert "train_trial_shard" not in jobs and "estimate_memorization" not in jobs
    snakemake(work, config, "tables/pairs.md", "figures/consistency.pdf", "figures/fig3.pdf")
    summary = json.loads((work / "results" / "tiny" / "summary.json").read_text())
    search = summary["threshold_search"]["infl"]
    assert summary["infl_threshold_mode"] == "auto"
    assert search["grid"] == [0.1, 0.2, 0.3, 0.4, 0.5] and len(search["jaccard"]) == 5
    if search["reached"]:
        assert summary["infl_threshold"] == search["chosen"] and summary["replicates"]
    else:
        assert summary["infl_threshold"] == 0.15 and not summary["replicates"]
        assert "does not replicate" in summary["reliability_note"]
    assert (work / "figures" / "consistency.png").stat().st_size > 0
