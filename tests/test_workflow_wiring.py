"""longtail.workflow.wiring: the rules' input, parameter and target functions, with known answers
for the tiny study (tests/config/tiny.yaml) and a config that has a released study, an own dataset,
a last layer and a comparison group. No Snakemake run: the functions are plain Python."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.iocontainers import Namedlist

from longtail.config.study import with_defaults
from longtail.workflow.checks import name_custom_datasets
from longtail.workflow.wiring import Wiring, expand, study_regex

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "tests" / "config" / "tiny.yaml").read_text())


def wiring(config: dict) -> Wiring:
    config = with_defaults(copy.deepcopy(config), part="config")
    return Wiring.from_config(config, name_custom_datasets(config))


@pytest.fixture(scope="module")
def tiny() -> Wiring:
    return wiring(TINY)


@pytest.fixture(scope="module")
def mixed() -> Wiring:
    """A trained study, a released one, an own dataset, a last layer and a group."""
    config = copy.deepcopy(TINY)
    config["studies"]["other"] = {**copy.deepcopy(TINY["studies"]["tiny"]), "arch": "cnn"}
    config["studies"]["paper"] = {"dataset": "cifar100", "arch": "resnet50", "trials": 4000,
                                  "released": "released/cifar100_infl_matrix.npz"}
    config["studies"]["own"] = {"dataset": {"kind": "folder", "root": "my/images"},
                                "arch": "cnn", "trials": 32, "trials_per_job": 16}
    config["compare"] = {"groups": {"archs": ["tiny", "other"]}}
    config["thresholds"] = {"mem": "auto", "infl": 0.2}
    config["galleries"] = {"studies": ["tiny"]}
    config["figures"]["mem_hist"] = ["tiny", "other"]
    return wiring(config)


def job(**wildcards: str) -> SimpleNamespace:
    return SimpleNamespace(**wildcards)


def test_expand_is_snakemakes() -> None:
    from snakemake.io import expand as snakemake_expand

    for pattern, values in (("a/{x}/{y}", {"x": ["1", "1", "2"], "y": ["p", "q"]}),
                            ("a/{x}.{y}", {"x": ["1"], "y": []}),
                            ("{x}", {"x": {"b": 1, "a": 2}})):
        assert expand(pattern, **values) == snakemake_expand(pattern, **values)


def test_study_regex() -> None:
    assert study_regex(["a", "b"]) == "a|b"
    assert study_regex([]) == "(?!)"  # matches nothing


def test_trials_and_data_of_the_tiny_study(tiny: Wiring) -> None:
    study = job(study="tiny")
    assert tiny.get_trial_shards(study) == ["results/tiny/trials/0-16.h5",
                                            "results/tiny/trials/16-32.h5"]
    assert tiny.get_dataset_cache(study) == "resources/fashion-mnist.h5"
    assert tiny.get_download_dir(study) == "resources"
    assert tiny.get_dataset_source(job(dataset="fashion-mnist")) == []
    assert "trials" not in tiny.get_training_params(study)
    assert "removal" not in tiny.get_store_params(study)
    assert tiny.get_description_params(study)["trials"] == 32
    assert tiny.get_lastlayer_study(study) == tiny.get_description_params(study)
    assert list(tiny.study_config(study)) == sorted(tiny.study_config(study))


def test_final_output_of_the_tiny_study(tiny: Wiring) -> None:
    figures = ["fig1", "fig2", "fig3", "figC1", "mem_hist", "consistency"]
    assert tiny.get_final_output() == [
        "results/tiny/pairs.csv", "results/tiny/summary.json",
        "results/tiny/consistency.csv", "results/tiny/reliability.json",
        "results/tiny/trials_curve.csv", "results/tiny/forecast.json",
        "figures/trials_curve_tiny.pdf", "figures/trials_curve_tiny.png",
        "tables/lastlayer.md", "figures/figC3.pdf",
        *[f"figures/{figure}.{ext}" for figure in figures for ext in ("pdf", "png")],
        *[f"tables/{table}.{ext}" for table in ("pairs", "marginal_utility")
          for ext in ("csv", "md", "tex", "html")],
    ]
    assert tiny.get_docs_figures() == [f"docs/figures/{figure}.png" for figure in figures]
    assert tiny.get_explorer_outputs() == ["results/tiny/explorer/index.html"]
    assert tiny.get_docs_explorer(None) == "results/tiny/explorer/index.html"
    assert tiny.get_docs_trials_curve(None) == "figures/trials_curve_tiny.png"


def test_removal_shards_of_the_tiny_study(tiny: Wiring) -> None:
    assert tiny.figure_studies("fig2") == ["tiny"]
    assert tiny.figure_studies("figC3") == []
    assert tiny.table_studies("lastlayer") == []
    assert tiny.removal_shard_files(["tiny"], ("full", "mem")) == [
        "results/tiny/removal/full/0-2.h5", "results/tiny/removal/mem-0.25/0-2.h5",
        "results/tiny/removal/mem-0.75/0-2.h5"]
    assert tiny.removal_shard_files(["tiny"], ("pairs", "random")) == [
        "results/tiny/removal/pairs/0-2.h5", "results/tiny/removal/random-0.2/0-2.h5",
        "results/tiny/removal/random-0.5/0-2.h5"]
    assert tiny.get_removal_input(job(study="tiny", part="mem-0.25")) == {
        "data": "results/tiny/data.h5", "estimates": "results/tiny/estimates.h5"}
    assert tiny.get_removal_input(job(study="tiny", part="pairs")) == {
        "data": "results/tiny/data.h5", "pairs": "results/tiny/pairs.csv"}
    assert tiny.get_removal_input(job(study="tiny", part="full")) == {
        "data": "results/tiny/data.h5"}


def test_selection_of_trained_and_released_studies(mixed: Wiring) -> None:
    assert mixed.trained_studies == ["tiny", "other", "own"]
    assert mixed.released_studies == ["paper"]
    assert mixed.get_selection_inputs(job(study="tiny")) == {
        "estimates": "results/tiny/estimates.h5", "reliability": "results/tiny/reliability.json",
        "forecast": "results/tiny/forecast.json", "until": []}
    assert mixed.get_selection_inputs(job(study="paper")) == {
        "estimates": "results/paper/estimates.h5"}
    both = Namedlist(fromdict={"estimates": "e.h5", "reliability": "r.json",
                               "forecast": "f.json", "until": []})
    assert mixed.get_selection_options(None, both, Namedlist(fromdict={"rst": "s.rst"})) == \
        "--reliability r.json --forecast f.json --caption s.rst"
    assert mixed.get_selection_options(None, Namedlist(fromdict={"estimates": "e.h5"}),
                                       Namedlist(fromdict={"csv": "p.csv"})) == ""
    # `auto` stands for the paper's value where a stage does not search a grid; key-sorted
    assert list(mixed.get_thresholds(None).items()) == [("infl", 0.2), ("mem", 0.25)]
    assert mixed.get_selection_settings(None)["mem"] == "auto"


def test_explorer_of_trained_and_released_studies(mixed: Wiring) -> None:
    inputs = mixed.get_explorer_inputs(job(study="tiny"))
    assert inputs["reliability"] == "results/tiny/reliability.json"
    # mem_hist also draws `other`: linking it would make tiny's explorer wait for other's trials
    assert inputs["figures"] == [f"figures/{figure}.png" for figure in
                                 ("trials_curve_tiny", "fig1", "fig2", "fig3", "figC1",
                                  "consistency")]
    assert "reliability" not in mixed.get_explorer_inputs(job(study="paper"))
    assert mixed.get_explorer_inputs(job(study="paper"))["figures"] == []
    options = mixed.get_explorer_options(None, Namedlist(fromdict={
        "reliability": "r.json", "figures": ["figures/a b.png"]}))
    assert options == "--reliability r.json --figures 'figures/a b.png'"


def test_groups_own_data_and_galleries(mixed: Wiring) -> None:
    group = job(group="archs")
    assert mixed.get_group_stores(group) == ["results/tiny/correctness.h5",
                                             "results/other/correctness.h5"]
    assert mixed.get_group_seed(group) == 0
    assert mixed.get_group_min_out_trials(group) == 8
    assert mixed.get_comparison_outputs() == [
        "tables/lastlayer.md", "figures/figC3.pdf",
        "tables/arch_comparison.md", "figures/arch_comparison.pdf"]
    own = mixed.studies["own"].dataset
    assert own.startswith("folder-")
    assert mixed.get_dataset_spec(job(dataset=own))["root"] == "my/images"
    assert mixed.get_dataset_source(job(dataset=own)) == ["my/images"]
    assert mixed.get_gallery_outputs() == ["results/tiny/gallery/pairs.png"]
    assert "studies" not in mixed.get_gallery_options(None)
    assert mixed.get_final_output()[:6] == [
        f"results/{study}/{name}" for study in ("tiny", "other", "paper")
        for name in ("pairs.csv", "summary.json")]


def test_an_until_study_trains_round_by_round_up_to_the_round_that_stops(tmp_path) -> None:
    config = copy.deepcopy(TINY)
    config["studies"]["tiny"]["trials"] = {"until": {"pairs": 0.7}, "step": 32, "max": 80}
    config["lastlayer"]["studies"] = []
    verdicts = {0: False, 1: True}  # round -> stop
    asked = []

    def round_file(study: str, round_index: int) -> str:
        asked.append((study, round_index))
        path = tmp_path / f"{round_index}.json"
        path.write_text(json.dumps({"stop": verdicts[round_index], "t": 32 * (round_index + 1)}))
        return str(path)

    config = with_defaults(config, part="config")
    until = Wiring.from_config(config, {}, round_file)
    assert until.until_studies == ["tiny"]
    assert until.get_round_shards(job(study="tiny", round="2")) == [
        f"results/tiny/trials/{shard}.h5" for shard in ("0-16", "16-32", "32-48", "48-64",
                                                          "64-80")]
    assert until.get_trial_shards(job(study="tiny")) == [
        f"results/tiny/trials/{shard}.h5" for shard in ("0-16", "16-32", "32-48", "48-64")]
    assert asked == [("tiny", 0), ("tiny", 1)]  # round 2 is never asked for
    assert until.get_until_verdict(job(study="tiny")) == [str(tmp_path / "1.json")]
    inputs = until.get_selection_inputs(job(study="tiny"))
    assert inputs["until"] == [str(tmp_path / "1.json")]
    options = Namedlist(fromdict={**inputs, "until": inputs["until"]})
    assert until.get_selection_options(None, options, Namedlist(fromdict={})).endswith(
        f"--until {tmp_path / '1.json'}")
