"""Every constraint of the config schema and of longtail.workflow.checks.check_config."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from longtail.config.errors import ConfigError
from longtail.config.schema import SCHEMA_PATH, load_schema, schema_default
from longtail.config.study import fill_dependent_defaults, subset_size, trial_shards
from longtail.data.datasets import DATASETS
from longtail.reporting import paper
from longtail.workflow.checks import check_config, schema_errors

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(SCHEMA_PATH)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def checked(config: dict) -> dict:
    """What rules/common.smk does: one-line schema errors, defaults, cross-field checks."""
    config = copy.deepcopy(config)
    problems = schema_errors(config, load_schema())
    if problems:
        raise ConfigError("; ".join(problems))
    fill_dependent_defaults(config)
    validate(config, schema=SCHEMA)
    check_config(config)
    return config


@pytest.fixture
def tiny() -> dict:
    return load(ROOT / "tests" / "config" / "tiny.yaml")


@pytest.mark.parametrize("path", [ROOT / "config.yaml", *sorted((ROOT / "studies").glob("*.yaml"))],
                         ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    config = load(path)
    if any(s["dataset"] == "imagenet" for s in config["studies"].values()):
        config.setdefault("data", {})["imagenet_root"] = "/data/ILSVRC2012"
    checked(config)


def test_defaults_are_filled_in(tiny):
    config = checked(tiny)
    assert config["studies"]["tiny"]["train"]["schedule"] == "onecycle"
    assert config["data"]["dir"] == "resources"
    thresholds = config["thresholds"]
    assert (thresholds["mem"], thresholds["infl"], thresholds["target"]) == (0.25, 0.15, 0.7)
    assert thresholds["grid"]["infl"][:3] == [0.05, 0.1, 0.15]
    assert thresholds["chance_permutations"] == 4
    assert (thresholds["splits"], thresholds["min_pairs"]) == (10, 20)


SCHEMA_ERRORS = [
    ("subset_ratio", 1.5, "allowed: > 0 and < 1"),
    ("subset_ratio", 0.0, "allowed: > 0 and < 1"),
    ("trials", 1, "allowed: >= 2"),
    ("dataset", "svhn", "allowed: mnist, fashion-mnist, cifar10, cifar100, imagenet"),
    ("arch", "vgg16", "allowed: mlp, cnn"),
    ("label_noise", 1.0, "allowed: >= 0 and < 1"),
    ("n_train", 1, "allowed: >= 2"),
]


@pytest.mark.parametrize(("key", "value", "allowed"), SCHEMA_ERRORS)
def test_schema_rejects_bad_study_values_in_one_line(tiny, key, value, allowed):
    tiny["studies"]["tiny"][key] = value
    with pytest.raises(ConfigError) as err:
        checked(tiny)
    message = str(err.value)
    assert "\n" not in message
    assert f"studies.tiny.{key} = {value!r} is not allowed" in message
    assert allowed in message


@pytest.mark.parametrize("key", ["mem", "infl"])
@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_thresholds_must_lie_in_unit_interval(tiny, key, value):
    tiny["thresholds"][key] = value
    with pytest.raises(ConfigError, match=rf"thresholds\.{key} = {value} is not allowed"):
        checked(tiny)


@pytest.mark.parametrize("key", ["mem", "infl"])
def test_thresholds_may_be_auto(tiny, key):
    tiny["thresholds"][key] = "auto"
    assert checked(tiny)["thresholds"][key] == "auto"


THRESHOLD_ERRORS = [
    ({"mem": "automatic"}, r"thresholds\.mem = 'automatic' is not allowed; allowed: >= 0 and "
                           r"<= 1 \(number\) or auto"),
    ({"target": 0}, r"thresholds\.target = 0 is not allowed; allowed: > 0 and <= 1"),
    ({"grid": {"infl": [0.1, 1.2]}}, r"thresholds\.grid\.infl\.1 = 1\.2 is not allowed"),
    ({"grid": {"infl": []}}, r"thresholds\.grid\.infl = \[\] is not allowed"),
    ({"chance_permutations": 0}, r"thresholds\.chance_permutations = 0 is not allowed"),
    ({"splits": 0}, r"thresholds\.splits = 0 is not allowed"),
    ({"min_pairs": -1}, r"thresholds\.min_pairs = -1 is not allowed"),
    ({"grids": {}}, r"thresholds: Additional properties .*'grids'"),
]


@pytest.mark.parametrize(("edit", "message"), THRESHOLD_ERRORS)
def test_bad_threshold_settings_are_named_in_one_line(tiny, edit, message):
    tiny["thresholds"].update(edit)
    with pytest.raises(ConfigError, match=message) as err:
        checked(tiny)
    assert "\n" not in str(err.value)


def test_unknown_keys_are_named(tiny):
    tiny["studies"]["tiny"]["epochs"] = 3
    with pytest.raises(ConfigError, match=r"studies\.tiny: Additional properties .*'epochs'"):
        checked(tiny)


CROSS_FIELD_ERRORS = [
    ({"n_train": 70000}, r"studies\.tiny\.n_train = 70000 .* train split \(60000"),
    ({"n_test": 20000}, r"studies\.tiny\.n_test = 20000"),
    ({"subset_ratio": 0.99, "trials": 32}, r"studies\.tiny\.subset_ratio .* min_out_trials"),
    ({"trials_per_job": 10}, r"trials_per_job = 10 must be a multiple of .*ensemble_size"),
    ({"dataset": "imagenet", "n_train": 1000, "n_test": 100}, r"data\.imagenet_root"),
]


@pytest.mark.parametrize(("change", "message"), CROSS_FIELD_ERRORS)
def test_cross_field_errors_name_the_key(tiny, change, message):
    tiny["studies"]["tiny"].update(change)
    with pytest.raises(ConfigError, match=message):
        checked(tiny)


def test_figures_must_name_known_studies(tiny):
    tiny["figures"]["fig2"] = ["nope"]
    with pytest.raises(ConfigError, match=r"figures\.fig2 names study 'nope'"):
        checked(tiny)


def test_detectors_must_name_trained_noisy_studies(tiny):
    tiny["detectors"] = {"studies": ["nope"]}
    with pytest.raises(ConfigError, match=r"detectors\.studies names study 'nope'.*trained: tiny"):
        checked(tiny)
    tiny["detectors"] = {"studies": ["tiny"]}  # label_noise 0: nothing to detect
    with pytest.raises(ConfigError, match=r"study 'tiny', whose label_noise is 0"):
        checked(tiny)
    tiny["studies"]["tiny"]["label_noise"] = {"kind": "confusable", "rate": 0.1}
    assert checked(tiny)["detectors"]["studies"] == ["tiny"]
    tiny["detectors"] = {"folds": [2, 10], "main_folds": 5}
    with pytest.raises(ConfigError, match=r"detectors\.main_folds = 5 is not one of"):
        checked(tiny)


def test_subset_size_and_shards():
    assert subset_size(10000, 0.7) == 7000
    assert trial_shards(100, 32) == [(0, 32), (32, 64), (64, 96), (96, 100)]
    # Raising trials keeps every earlier full shard.
    assert trial_shards(256, 64) == trial_shards(1024, 64)[:4]


def test_workflow_refuses_bad_config_before_any_job(tiny, tmp_path):
    tiny["studies"]["tiny"]["subset_ratio"] = 1.5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(tiny))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(bad), "--cores", "1"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "studies.tiny.subset_ratio = 1.5 is not allowed" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_the_default_thresholds_are_the_papers():
    """The schema holds the defaults; reporting.paper quotes the paper; they agree."""
    assert schema_default("thresholds", "mem") == paper.MEM_THRESHOLD == 0.25
    assert schema_default("thresholds", "infl") == paper.INFL_THRESHOLD == 0.15
    assert schema_default("thresholds", "target") == paper.JACCARD_TARGET == 0.7


def test_schema_default_follows_refs_and_parts():
    assert schema_default("min_out_trials", part="study") == 8
    assert schema_default("train", "ensemble_size", part="study") == 16
    assert schema_default("lastlayer", "train", "epochs") == schema_default("epochs", part="train")
    with pytest.raises(KeyError):
        schema_default("studies")


@pytest.mark.parametrize(("per_job", "size"), [(8, 8), (64, 16), (12, 4), (1, 1), (None, 16)])
def test_unset_ensemble_size_follows_trials_per_job(tiny, per_job, size):
    study = tiny["studies"]["tiny"]
    del study["train"]["ensemble_size"]
    study.pop("trials_per_job")
    if per_job is not None:
        study["trials_per_job"] = per_job
    assert checked(tiny)["studies"]["tiny"]["train"]["ensemble_size"] == size


def test_a_set_ensemble_size_is_kept_and_checked(tiny):
    tiny["studies"]["tiny"].update(trials_per_job=8)
    tiny["studies"]["tiny"]["train"]["ensemble_size"] = 16
    with pytest.raises(ConfigError, match=r"trials_per_job = 8 must be a multiple of"):
        checked(tiny)


def test_the_schema_lists_the_registrys_datasets():
    """The schema's enum of built-in datasets is the registry's (longtail.data.datasets)."""
    options = load_schema()["definitions"]["study"]["properties"]["dataset"]["oneOf"]
    assert tuple(options[0]["enum"]) == DATASETS
