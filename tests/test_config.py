"""Every constraint of the config schema and of longtail.workflow.checks.check_config."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

from longtail.config.bases import deep_merge, resolve_bases
from longtail.config.errors import ConfigError
from longtail.config.schema import SCHEMA_PATH, load_schema, schema_default
from longtail.config.study import Study, fill_dependent_defaults, subset_size, trial_shards
from longtail.data.datasets import DATASETS
from longtail.errors import LongtailError
from longtail.reporting import paper
from longtail.workflow.checks import check_config, schema_errors

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(SCHEMA_PATH)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def checked(config: dict) -> dict:
    """What rules/common.smk does: studies merged with their bases, one-line schema errors,
    defaults, cross-field checks."""
    config = copy.deepcopy(config)
    bases = resolve_bases(config)
    problems = schema_errors(config, load_schema(), bases)
    if problems:
        raise ConfigError("; ".join(problems))
    fill_dependent_defaults(config)
    validate(config, schema=SCHEMA)
    check_config(config)
    return config


@pytest.fixture
def tiny() -> dict:
    return load(ROOT / "tests" / "config" / "tiny.yaml")


def as_snakemake_reads(preset: Path | None = None) -> dict:
    """config.yaml, with a preset merged in as `snakemake --configfile PRESET` does."""
    config = load(ROOT / "config.yaml")
    if preset is not None:
        update_config(config, load(preset))
    return config


@pytest.mark.parametrize("preset", [None, *sorted((ROOT / "studies").glob("*.yaml"))],
                         ids=lambda p: "config.yaml" if p is None else p.name)
def test_shipped_configs_are_valid(preset):
    config = as_snakemake_reads(preset)
    if any(s.get("dataset") == "imagenet" for s in config["studies"].values()):
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


@pytest.mark.parametrize(("preset", "shards"), [(None, 32 + 2 + 2 + 2),
                                              ("fashion-mnist-t4000.yaml", 38 + 63)])
def test_the_workflow_plans_the_shipped_based_studies(tmp_path, preset, shards):
    """A dry run of config.yaml (and of a preset based on its default study, merged in as
    `--configfile` does): each based study's trial shards are planned as its merged
    trials and trials_per_job say (default: 2,048 / 64, noise and confusable: 128 / 64, CNN:
    96 / 48, the t4000 preset: 4,000 / 64, its last shard of 32)."""
    configs = [str(ROOT / "config.yaml"), *([str(ROOT / "studies" / preset)] if preset else [])]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", *configs, "--cores", "1", "--dry-run"],
        capture_output=True, text=True, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert re.search(rf"^train_trial_shard\s+{shards}$", text, re.M), text[:3000]
    for shard in ("fashion-mnist-cnn/trials/48-96.h5", "fashion-mnist-mlp-confusable/trials/"
                  "64-128.h5", *(["fashion-mnist-t4000/trials/3968-4000.h5"] if preset else [])):
        assert f"results/{shard}" in text


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


# ----------------------------------------------------------------- studies based on another


@pytest.mark.parametrize(("base", "override", "merged"), [
    ({"a": 1, "b": 2}, {"b": 3, "c": 4}, {"a": 1, "b": 3, "c": 4}),
    ({"train": {"epochs": 30, "lr": 0.2}}, {"train": {"epochs": 60}},
     {"train": {"epochs": 60, "lr": 0.2}}),
    ({"t": {"u": {"v": 1, "w": 2}}}, {"t": {"u": {"w": 3}}}, {"t": {"u": {"v": 1, "w": 3}}}),
    ({"thresholds": [0.1, 0.25, 0.5]}, {"thresholds": [0.3]}, {"thresholds": [0.3]}),
    ({"n_train": 10000}, {"n_train": None}, {"n_train": None}),
    ({"label_noise": 0.0}, {"label_noise": {"kind": "confusable", "rate": 0.1}},
     {"label_noise": {"kind": "confusable", "rate": 0.1}}),
    # a value with its own kind replaces the base's; a mapping without one merges into it
    ({"label_noise": {"kind": "matrix", "matrix": [[1, 0], [0, 1]]}},
     {"label_noise": {"kind": "confusable", "rate": 0.1}},
     {"label_noise": {"kind": "confusable", "rate": 0.1}}),
    ({"label_noise": {"kind": "confusable", "rate": 0.1}}, {"label_noise": {"rate": 0.2}},
     {"label_noise": {"kind": "confusable", "rate": 0.2}}),
    ({"train": {"epochs": 4}}, {"train": 5}, {"train": 5}),
])
def test_deep_merge_known_answers(base, override, merged):
    before = copy.deepcopy(base), copy.deepcopy(override)
    result = deep_merge(base, override)
    assert result == merged
    assert (base, override) == before  # neither input changes
    if isinstance(result.get("train"), dict):
        assert result["train"] is not base.get("train")


def based(**studies) -> dict:
    return {"studies": studies}


def test_a_chain_of_two_bases_merges_farthest_first():
    config = based(
        a={"dataset": "mnist", "arch": "mlp", "trials": 64, "train": {"epochs": 4, "lr": 0.1}},
        b={"base": "a", "trials": 128, "train": {"epochs": 8}},
        c={"base": "b", "arch": "cnn", "train": {"lr": 0.05}})
    assert resolve_bases(config) == {"b": ["a"], "c": ["b", "a"]}
    assert config["studies"]["c"] == {"dataset": "mnist", "arch": "cnn", "trials": 128,
                                      "train": {"epochs": 8, "lr": 0.05}}
    assert config["studies"]["b"] == {"dataset": "mnist", "arch": "mlp", "trials": 128,
                                      "train": {"epochs": 8, "lr": 0.1}}
    assert config["studies"]["a"]["train"] == {"epochs": 4, "lr": 0.1}  # the base unchanged


def test_a_based_study_is_the_study_written_out(tiny):
    """What the workflow records (fingerprints, params, the checked config) is the same for a
    study written out and for the same study as a difference from another; ``base`` is gone."""
    written = copy.deepcopy(tiny)
    written["studies"]["tiny-60"] = copy.deepcopy(tiny["studies"]["tiny"])
    written["studies"]["tiny-60"]["train"]["epochs"] = 60
    as_difference = copy.deepcopy(tiny)
    as_difference["studies"]["tiny-60"] = {"base": "tiny", "train": {"epochs": 60}}
    assert checked(as_difference) == checked(written)
    assert "base" not in checked(as_difference)["studies"]["tiny-60"]
    studies = [Study.from_config(name, checked(config)["studies"][name])
               for config in (written, as_difference) for name in ("tiny-60",)]
    assert studies[0] == studies[1]
    assert studies[0].trials_fingerprint == studies[1].trials_fingerprint


@pytest.mark.parametrize(("studies", "message"), [
    (based(a={"base": "nope", "arch": "mlp"}, b={"dataset": "mnist", "arch": "mlp"}),
     r"^studies\.a\.base = 'nope' names no study \(known: a, b\)$"),
    (based(a={"base": "a", "dataset": "mnist", "arch": "mlp"}),
     r"^studies\.a: its bases form a cycle \(a -> a\)"),
    (based(a={"base": "b"}, b={"base": "c"}, c={"base": "a", "dataset": "mnist"}),
     r"^studies\.a: its bases form a cycle \(a -> b -> c -> a\)"),
    (based(a={"base": "b"}, b={"base": "c"}, c={"base": "b", "dataset": "mnist"}),
     r"^studies\.a: its bases form a cycle \(a -> b -> c -> b\)"),
    (based(a={"base": 3, "arch": "mlp"}),
     r"^studies\.a\.base = 3 is not allowed; allowed: the name of another study$"),
])
def test_unknown_bases_and_cycles_are_refused_naming_the_study(studies, message):
    with pytest.raises(ConfigError, match=message):
        resolve_bases(studies)
    with pytest.raises(LongtailError):
        checked(studies)


def test_the_schema_checks_the_merged_study_and_names_it(tiny):
    tiny["studies"]["tiny"]["train"]["lr"] = -1.0  # the base's bad value, inherited
    tiny["studies"]["tiny-b"] = {"base": "tiny", "trials": 64}
    tiny["studies"]["tiny-c"] = {"base": "tiny-b", "trials": 1}
    with pytest.raises(ConfigError) as err:
        checked(tiny)
    message = str(err.value)
    assert "\n" not in message
    assert "studies.tiny.train.lr = -1.0 is not allowed" in message
    assert ("studies.tiny-b.train.lr = -1.0 is not allowed; allowed: > 0 (number) (study "
            "tiny-b is merged with its base tiny)") in message
    assert "studies.tiny-c.trials = 1 is not allowed; allowed: >= 2 (integer); or {until: " \
           "..., step: ..., max: ...} (study tiny-c is merged with its bases tiny-b, tiny)" \
        in message


def test_a_based_study_gets_its_own_dependent_defaults(tiny):
    """train.ensemble_size, unset, follows the merged study's own trials_per_job."""
    tiny["studies"]["tiny"]["train"].pop("ensemble_size")
    tiny["studies"]["tiny-8"] = {"base": "tiny", "trials_per_job": 8}
    config = checked(tiny)
    assert config["studies"]["tiny"]["train"]["ensemble_size"] == 16
    assert config["studies"]["tiny-8"]["train"]["ensemble_size"] == 8


# The studies of config.yaml and the presets as they were written out in full before `base`
# (commit 7ef91ee): the merged studies give the same data, trials and descriptions; a study in
# neither Fig. 2 nor tables/marginal_utility may inherit removal settings it never uses. The
# default study now evaluates the whole test split (issue 29's frontier); the CNN study, compared
# with it on the same data, follows it there, the t4000 preset is the default study at t = 4,000,
# and the others keep the recipe they were measured with.
MLP_RECIPE = {"epochs": 30, "batch_size": 512, "lr": 0.2, "momentum": 0.9, "weight_decay": 0.0,
              "schedule": "onecycle", "precision": "auto", "threads": 1}
FASHION = {"dataset": "fashion-mnist", "n_train": 10000, "n_test": 2000, "label_noise": 0.0,
           "subset_ratio": 0.7, "seed": 0}
RESNET50 = load(ROOT / "studies" / "cifar100-resnet50.yaml")["studies"]["cifar100-resnet50"]
WRITTEN_OUT = {
    "fashion-mnist-mlp-noise": (None, {
        **FASHION, "label_noise": 0.1, "arch": "mlp-384-192", "trials": 128,
        "trials_per_job": 64, "train": {**MLP_RECIPE, "epochs": 60}}),
    "fashion-mnist-mlp-confusable": (None, {
        **FASHION, "label_noise": {"kind": "confusable", "rate": 0.1}, "arch": "mlp-384-192",
        "trials": 128, "trials_per_job": 64, "train": {**MLP_RECIPE, "epochs": 60}}),
    "fashion-mnist-cnn": (None, {
        **FASHION, "n_test": 10000, "arch": "cnn", "trials": 96, "trials_per_job": 48,
        "train": {"epochs": 4, "batch_size": 128, "lr": 0.1, "momentum": 0.9,
                  "weight_decay": 0.0, "schedule": "onecycle", "threads": 1}}),
    "fashion-mnist-t4000": ("fashion-mnist-t4000.yaml", {
        **FASHION, "n_test": 10000, "arch": "mlp-128-64", "trials": 4000, "trials_per_job": 64,
        "train": {**MLP_RECIPE, "epochs": 40}}),
    "fashion-mnist-plan-validation": ("fashion-mnist-plan-validation.yaml", {
        **FASHION, "n_test": 10000, "arch": "mlp-64-32", "trials": 4096, "trials_per_job": 64,
        "train": MLP_RECIPE}),
    "cifar100-resnet18": ("cifar100-archs.yaml", {
        **{k: v for k, v in RESNET50.items() if k != "removal"}, "arch": "resnet18",
        "trials": 2000, "trials_per_job": 16}),
    "cifar100-inception": ("cifar100-archs.yaml", {
        **{k: v for k, v in RESNET50.items() if k != "removal"}, "arch": "inception",
        "trials": 2000, "trials_per_job": 16}),
}


@pytest.mark.parametrize("name", sorted(WRITTEN_OUT))
def test_shipped_based_studies_are_the_studies_they_were(name):
    preset, written = WRITTEN_OUT[name]
    config = checked(as_snakemake_reads(preset and ROOT / "studies" / preset))
    was = Study.from_config(name, checked({"studies": {name: written}})["studies"][name])
    now = Study.from_config(name, config["studies"][name])
    assert now.data_params() == was.data_params()
    assert now.all_trials_params() == was.all_trials_params()
    assert now.store_params() == was.store_params()
    assert {k: v for k, v in now.config.items() if k != "removal"} == \
        {k: v for k, v in was.config.items() if k != "removal"}
    assert name not in config["figures"].get("fig2", [])
    assert name not in config["tables"].get("marginal_utility", [])
