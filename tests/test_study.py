"""longtail.config.study: the one description of a study (params, fingerprints, shard and part
names, seeds) and the schema's defaults."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml
from snakemake.utils import validate

from longtail.config.schema import SCHEMA_PATH
from longtail.config.study import (
    DATA_KEYS,
    TRIAL_KEYS,
    Study,
    derive_rng,
    derive_seed,
    fill_dependent_defaults,
    full_model_seed,
    removal_seed,
    trial_seed,
    with_defaults,
)
from longtail.estimators.reliability import CHANCE_STREAM
from longtail.estimators.select import split_trials
from longtail.train.recipe import Recipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_config() -> dict:
    config = yaml.safe_load((ROOT / "tests" / "config" / "tiny.yaml").read_text())
    validate(config, schema=str(SCHEMA_PATH))
    return config


@pytest.fixture
def tiny(tiny_config) -> Study:
    return Study.from_config("tiny", tiny_config["studies"]["tiny"])


def other(value: Any) -> Any:
    """Some other value of the same kind (a changed config value)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.125
    if isinstance(value, str):
        return value + "-other"
    if isinstance(value, Mapping):
        return {**value, "epochs": value.get("epochs", 1) + 1}
    return 7  # None: a value where there was none


def changed(study: Study, key: str, value: Any) -> Study:
    return Study.from_config(study.name, {**study.config, key: value})


# ---------------------------------------------------------------- seeds: values computed before
# the derivation became one function (results on disk were made with these).

def test_seeds_are_the_values_results_on_disk_were_made_with():
    assert [trial_seed(0, 5), trial_seed(123, 4000), trial_seed(2**31, 7)] == [
        346450728717391432, 6894321788094618141, 2155599251471287670]
    assert [removal_seed(0, "mem-0.25", "random", 3), removal_seed(7, "pairs", "pairs", 0),
            removal_seed(1, "random-0.3", "random", 2), removal_seed(0, "full", "full", 0),
            removal_seed(0, "mem-0.25", "memorized", 3)] == [
        171449354550201242, 4099600917791886143, 8145797605288126159, 6181792388651259548,
        6136595853262986199]
    assert [full_model_seed(0), full_model_seed(42)] == [8030115826930265566,
                                                         3871218837376880778]
    half_a, half_b = split_trials(np.ones(12, bool), 3)
    assert np.flatnonzero(half_a).tolist() == [0, 1, 2, 7, 10, 11]
    assert np.flatnonzero(half_b).tolist() == [3, 4, 5, 6, 8, 9]
    np.testing.assert_array_equal(derive_rng(5, CHANCE_STREAM).random(3),
                                  [0.44385577304538126, 0.6967065247943366, 0.7775621893978433])
    np.testing.assert_array_equal(derive_rng(0, 1).random(2),
                                  [0.8897387912781343, 0.5571380502062263])


def test_every_seed_is_one_derivation(tiny):
    assert tiny.trial_seed(9) == derive_seed(tiny.seed, 9) == trial_seed(tiny.seed, 9)
    assert tiny.full_model_seed == full_model_seed(tiny.seed)
    assert tiny.removal_seed("mem-0.25", "random", 1) == removal_seed(tiny.seed, "mem-0.25",
                                                                      "random", 1)
    assert derive_rng(3).random() == np.random.default_rng(3).random()


# ---------------------------------------------------------------- params and fingerprints

def test_tiny_study_keeps_its_fingerprints_and_names(tiny, tiny_config):
    """The values before the description moved here: existing results stay valid."""
    assert tiny.data_fingerprint == "a99a835827d7c421"
    assert tiny.trials_fingerprint == "ff7f73a3ba365b87"
    assert tiny.lastlayer_fingerprint(tiny_config["lastlayer"]["train"]) == "4de85268be6a3bf4"
    assert tiny.trial_shard_names() == ["0-16", "16-32"]
    assert tiny.removal_parts(("full", "mem", "pairs", "random")) == [
        "full", "mem-0.25", "mem-0.75", "pairs", "random-0.2", "random-0.5"]
    assert tiny.removal_parts(("mem",)) == ["mem-0.25", "mem-0.75"]
    assert tiny.removal_shard_names() == ["0-2"]


def test_params_are_what_the_rules_passed_before(tiny):
    config = dict(tiny.config)
    assert tiny.data_params() == {"fingerprint": "a99a835827d7c421", "label_noise": 0.0,
                                  "n_test": 100, "n_train": 300, "seed": 0}
    training = tiny.training_params()
    assert list(training) == sorted(training)
    assert training == {**{key: config[key] for key in
                           ("arch", "dataset", "label_noise", "n_test", "n_train", "seed",
                            "subset_ratio", "train")}, "fingerprint": "ff7f73a3ba365b87"}
    assert tiny.all_trials_params() == {**training, "trials": 32}
    assert tiny.store_params() == {k: v for k, v in config.items() if k != "removal"}


@pytest.mark.parametrize("key", TRIAL_KEYS)
def test_every_trial_key_changes_the_trials(tiny, key):
    """Adding a key to TRIAL_KEYS is all it takes for it to retrain trials."""
    study = changed(tiny, key, other(tiny.config[key]))
    assert study.trials_fingerprint != tiny.trials_fingerprint
    assert study.training_params() != tiny.training_params()
    assert study.all_trials_params() != tiny.all_trials_params()
    assert study.lastlayer_fingerprint({}) != tiny.lastlayer_fingerprint({})
    # the stage's Study (from the params the rule passes) agrees with the rule's
    assert Study.from_params(study.training_params()).trials_fingerprint == \
        study.trials_fingerprint
    assert (study.data_fingerprint != tiny.data_fingerprint) == (key in DATA_KEYS)
    assert (study.data_params() != tiny.data_params()) == (key in DATA_KEYS)


@pytest.mark.parametrize("key", ["trials", "trials_per_job", "removal", "min_out_trials"])
def test_trials_and_removal_change_no_trial(tiny, key):
    study = changed(tiny, key, other(tiny.config[key]))
    assert study.trials_fingerprint == tiny.trials_fingerprint
    assert study.training_params() == tiny.training_params()
    assert study.data_params() == tiny.data_params()


def test_runtime_settings_of_the_recipe_are_not_part_of_the_fingerprint(tiny):
    for key, value in (("threads", 8), ("device", "cpu")):
        study = changed(tiny, "train", {**tiny.train, key: value})
        assert study.trials_fingerprint == tiny.trials_fingerprint
    assert changed(tiny, "removal", {}).store_params() == tiny.store_params()


def test_params_with_a_foreign_fingerprint_are_refused(tiny):
    params = {**tiny.training_params(), "fingerprint": "0" * 16}
    with pytest.raises(ValueError, match="fingerprint"):
        Study.from_params(params)
    assert Study.of(tiny) is tiny
    assert Study.of(tiny.training_params()).trials_fingerprint == tiny.trials_fingerprint


# ---------------------------------------------------------------- the schema's defaults

def test_with_defaults_fills_what_the_workflow_fills(tiny_config):
    raw = yaml.safe_load((ROOT / "tests" / "config" / "tiny.yaml").read_text())
    assert with_defaults(raw, "config") == tiny_config
    bare = {"studies": {"s": {"dataset": "mnist", "arch": "mlp"}}}
    by_snakemake = copy.deepcopy(bare)
    fill_dependent_defaults(by_snakemake)
    validate(by_snakemake, schema=str(SCHEMA_PATH))
    assert with_defaults(bare, "config") == by_snakemake
    assert with_defaults(bare["studies"]["s"]) == by_snakemake["studies"]["s"]
    assert by_snakemake["studies"]["s"]["train"] == with_defaults({}, "train")
    assert bare == {"studies": {"s": {"dataset": "mnist", "arch": "mlp"}}}  # not modified


def test_with_defaults_refuses_what_the_schema_refuses():
    with pytest.raises(jsonschema.ValidationError):
        with_defaults({"epochs": 0}, "train")


def test_recipe_takes_its_defaults_from_the_schema():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())["definitions"]["train"]["properties"]
    recipe = Recipe.with_defaults(epochs=3)
    assert recipe.epochs == 3
    assert {k: v for k, v in recipe.__dict__.items() if k != "epochs"} == {
        k: spec["default"] for k, spec in schema.items() if k != "epochs"}
    with pytest.raises(ValueError, match="missing"):
        Recipe.from_config({"epochs": 3})
    with pytest.raises(ValueError, match="unknown"):
        Recipe.from_config({**with_defaults({}, "train"), "epochz": 3})


def test_the_rules_import_no_torch():
    """rules/common.smk imports longtail.workflow.checks and longtail.config.study when the workflow
    is parsed."""
    code = ("import sys, longtail.workflow.checks, longtail.config.study; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')]")
    subprocess.run([sys.executable, "-c", code], check=True)
