import math
import os
import shlex
import sys

from snakemake.utils import validate

import yaml

from longtail.config import (
    ConfigError,
    check_config,
    check_data_paths,
    check_own_data_paths,
    check_released_files,
    name_custom_datasets,
    released_studies,
    SPLIT_SIZES,
    schema_errors,
    study_sizes,
)
from longtail.study import Study, canonical, subset_size

SCHEMA = "../schemas/config.schema.yaml"
# Rules that a `longtail` subcommand does call it; it is the one of the environment Snakemake
# runs in (an inactive .venv, a conda env, on SLURM nodes too): its bin folder goes first on
# PATH, after Snakemake's default prefix (bash strict mode).
shell.prefix(
    f"set -euo pipefail; export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH; "
)

# One line per bad value (naming the key and what is allowed) before Snakemake's own validate,
# which fills in the defaults.
with open(workflow.source_path(SCHEMA)) as schema_file:
    problems = schema_errors(config, yaml.safe_load(schema_file))
if problems:
    raise ConfigError("invalid configuration: " + "; ".join(problems))
validate(config, schema=SCHEMA)
check_config(config)

DATA_DIR = config["data"]["dir"]
check_data_paths(config, DATA_DIR)
check_released_files(config)
check_own_data_paths(config)
# Own datasets ({kind: folder|arrays, ...}) get a cache name; studies record that name.
CUSTOM_DATASETS = name_custom_datasets(config)
# Each study's description, built once: its params, fingerprints and shard names.
STUDIES = {name: Study.from_config(name, study) for name, study in config["studies"].items()}

# Studies whose estimates are imported from the authors' released file instead of trained.
RELEASED_STUDIES = released_studies(config)
TRAINED_STUDIES = [study for study in config["studies"] if study not in RELEASED_STUDIES]


def study_regex(studies):
    """A wildcard constraint matching exactly these study names (nothing when empty)."""
    return "|".join(studies) if studies else "(?!)"


wildcard_constraints:
    study="|".join(config["studies"]),
    dataset="[a-z0-9-]+",
    start=r"\d+",
    stop=r"\d+",


def get_study(wildcards):
    return STUDIES[wildcards.study]


def study_config(wildcards):
    return canonical(get_study(wildcards).config)


def get_dataset_cache(wildcards):
    return f"{DATA_DIR}/{study_config(wildcards)['dataset']}.h5"


def get_data_sources(wildcards):
    return canonical(config["data"])


def get_dataset_spec(wildcards):
    """An own dataset's mapping from the config (None for a built-in dataset)."""
    return CUSTOM_DATASETS.get(wildcards.dataset)


def get_dataset_source(wildcards):
    """An own dataset's file or folder, so that replacing it rebuilds the cache."""
    spec = get_dataset_spec(wildcards)
    return [] if spec is None else [spec.get("root") or spec["path"]]


def get_download_dir(wildcards):
    return DATA_DIR  # the data layer keeps each dataset's originals in a subfolder


def get_trial_shards(wildcards):
    return expand(
        "results/{study}/trials/{shard}.h5",
        study=wildcards.study,
        shard=get_study(wildcards).trial_shard_names(),
    )


def get_data_params(wildcards):
    """Only what determines the study's data, so unrelated edits do not rebuild it."""
    return get_study(wildcards).data_params()


def get_training_params(wildcards):
    """What determines a trial; excludes `trials`, so adding trials retrains nothing old."""
    return get_study(wildcards).training_params()


def get_store_params(wildcards):
    """The study as the correctness store records it; `removal` is left out, so a change of
    Fig. 2's thresholds or repeats re-aggregates and re-estimates nothing."""
    return get_study(wildcards).store_params()


# Last-layer-only estimates (rules/lastlayer.smk) and cross-architecture groups (compare.smk).
LASTLAYER_STUDIES = config["lastlayer"]["studies"]
COMPARE_GROUPS = list(config["compare"]["groups"])


def get_lastlayer_study(wildcards):
    """What determines the linear trials of a study: its trials' parameters and t."""
    return get_study(wildcards).all_trials_params()


def get_lastlayer_train(wildcards):
    return canonical(config["lastlayer"]["train"])


def get_group_stores(wildcards):
    return expand(
        "results/{study}/correctness.h5", study=config["compare"]["groups"][wildcards.group]
    )


def get_group_seed(wildcards):
    """The split of the common trials into halves is seeded by the (shared) study seed."""
    return config["studies"][config["compare"]["groups"][wildcards.group][0]]["seed"]


def get_group_min_out_trials(wildcards):
    studies = config["compare"]["groups"][wildcards.group]
    return min(config["studies"][study]["min_out_trials"] for study in studies)


def get_comparison_outputs():
    """Tables and figures of the last-layer and cross-architecture experiments, if configured."""
    outputs = []
    if LASTLAYER_STUDIES:
        outputs += ["tables/lastlayer.md", "figures/figC3.pdf"]
    if COMPARE_GROUPS:
        outputs += ["tables/arch_comparison.md", "figures/arch_comparison.pdf"]
    return outputs


# The paper's figures and tables (rules/removal.smk, figures.smk, tables.smk): config
# `figures`/`tables` name the studies each one draws, `plots` holds each figure's options.
FIGURE_FORMATS = ("pdf", "png")
TABLE_FORMATS = ("csv", "md", "tex", "html")


def figure_studies(figure):
    """The studies config `figures.<figure>` names (none when the key is absent)."""
    return lookup(dpath=f"figures/{figure}", within=config, default=[])


def table_studies(table):
    """The studies config `tables.<table>` names (none when the key is absent)."""
    return lookup(dpath=f"tables/{table}", within=config, default=[])


def removal_shard_files(studies, families):
    """Removal shards of the studies for the part families: `full` (the baseline), `mem`
    (one part per Fig. 2 threshold), `pairs` (the pairs' training examples) and `random` (one
    part per fraction in `removal.random_fractions`)."""
    paths = []
    for name in studies:
        study = STUDIES[name]
        paths += expand(
            "results/{study}/removal/{part}/{shard}.h5",
            study=name,
            part=study.removal_parts(families),
            shard=study.removal_shard_names(),
        )
    return paths


def get_removal_input(wildcards):
    """data.h5, plus the estimates (mem) for a Fig. 2 threshold part or the pairs for `pairs`."""
    inputs = {"data": f"results/{wildcards.study}/data.h5"}
    if wildcards.part.startswith("mem-"):
        inputs["estimates"] = f"results/{wildcards.study}/estimates.h5"
    elif wildcards.part == "pairs":
        inputs["pairs"] = f"results/{wildcards.study}/pairs.csv"
    return inputs


def get_description_params(wildcards):
    """What `about.json` reports: the trials' parameters and t (not removal or plot options)."""
    return get_study(wildcards).all_trials_params()


def get_plot_options(figure):
    return canonical(config["plots"][figure])


def get_figure_outputs():
    """Every configured figure (PDF and PNG) and table (CSV, Markdown, LaTeX, HTML)."""
    figures = [figure for figure, studies in config["figures"].items() if studies]
    tables = [table for table, studies in config["tables"].items() if studies]
    return expand("figures/{figure}.{ext}", figure=figures, ext=FIGURE_FORMATS) + expand(
        "tables/{table}.{ext}", table=tables, ext=TABLE_FORMATS
    )


def get_docs_figures():
    """The README's copies of the configured figures (target `docs`)."""
    figures = [figure for figure, studies in config["figures"].items() if studies]
    return expand("docs/figures/{figure}.png", figure=figures)


GALLERY_STUDIES = config["galleries"]["studies"]


def get_gallery_options(wildcards):
    return canonical({k: v for k, v in config["galleries"].items() if k != "studies"})


def get_gallery_outputs():
    """The report's galleries of the studies `galleries.studies` lists."""
    return expand("results/{study}/gallery/pairs.png", study=GALLERY_STUDIES)


def get_explorer_outputs():
    """The explorer of every configured study (target `explorer`)."""
    return expand("results/{study}/explorer/index.html", study=config["studies"])


def get_explorer_figures(wildcards):
    """The PNGs of the configured figures that draw the study (linked from its explorer)."""
    return [
        f"figures/{figure}.png"
        for figure, studies in config["figures"].items()
        if wildcards.study in (studies or [])
    ]


def get_explorer_inputs(wildcards):
    """What a study's explorer shows: estimates, images, pairs and summary, its description,
    the reliability report (studies with trials) and the figures that draw it."""
    results = f"results/{wildcards.study}"
    inputs = {
        name: f"{results}/{name}.{ext}"
        for name, ext in (("estimates", "h5"), ("data", "h5"), ("pairs", "csv"))
    }
    inputs.update(summary=f"{results}/summary.json", about=f"{results}/about.json")
    if wildcards.study in TRAINED_STUDIES:
        inputs["reliability"] = f"{results}/reliability.json"
    inputs["figures"] = get_explorer_figures(wildcards)
    return inputs


def get_explorer_options(wildcards, input):
    """`longtail explorer` options beyond the rule's fixed ones: the reliability report where
    the study has one, the figures to copy and link."""
    options = ["--reliability", input.reliability] if "reliability" in input.keys() else []
    return shlex.join(options + ["--figures", *input.figures])


def get_docs_explorer(wildcards):
    """The explorer the README's screenshot shows: that of the first configured study."""
    return f"results/{next(iter(config['studies']))}/explorer/index.html"


def get_docs_explorer_view(wildcards):
    """The view of the screenshot (a URL hash): the training examples, most memorized first."""
    return "#grid?split=train&sort=mem"


def get_final_output():
    return (
        expand(
            "results/{study}/{name}",
            study=config["studies"],
            name=["pairs.csv", "summary.json"],
        )
        + expand(
            "results/{study}/{name}",
            study=TRAINED_STUDIES,
            name=["consistency.csv", "reliability.json"],
        )
        + get_comparison_outputs()
        + get_figure_outputs()
        + get_gallery_outputs()
    )


# Section 2's thresholds, which `auto` falls back to where no grid value replicates.
PAPER_THRESHOLDS = {"infl": 0.15, "mem": 0.25}


def get_thresholds(wildcards):
    """Fixed (mem, infl) for the stages that do not search a grid (last layer, architecture
    comparison): there `auto` stands for the paper's value. Key-sorted."""
    thresholds = config["thresholds"]
    return {
        key: PAPER_THRESHOLDS[key] if thresholds[key] == "auto" else thresholds[key]
        for key in ("infl", "mem")
    }


def get_selection_inputs(wildcards):
    """The estimates and, for a study with trials, the reliability report the selection
    reads its thresholds from (released estimates have no trials to split in halves)."""
    inputs = {"estimates": f"results/{wildcards.study}/estimates.h5"}
    if wildcards.study in TRAINED_STUDIES:
        inputs["reliability"] = f"results/{wildcards.study}/reliability.json"
    return inputs


def get_selection_options(wildcards, input, output):
    """`longtail pairs` options beyond the thresholds: a study with trials selects at those of
    its reliability report; the caption where the rule writes one."""
    options = []
    if "reliability" in input.keys():
        options += ["--reliability", input.reliability]
    if "rst" in output.keys():
        options += ["--caption", output.rst]
    return shlex.join(options)


def get_selection_settings(wildcards):
    """Thresholds (numbers or `auto`), grids, target and permutations of the selection and
    its reliability (rules/estimate.smk), key-sorted so that reordering reruns nothing."""
    return canonical(config["thresholds"])


# ---- Resources -------------------------------------------------------------------------------
# What each cluster job asks for, derived from its study (n, n_test, t, image size, arch, device):
# `mem_mb` (host memory), `runtime` (minutes) and `gpu`, the names the SLURM executor plugin
# maps to --mem, --time and --gpus; its CPUs are the rule's `threads`. Retries (`attempt` 2, 3)
# ask for more. Rough on purpose: a site overrides any of them in its own profile
# (`set-resources`, docs/slurm.md). Light rules are `localrules` and declare nothing.

MB = 1e6
# (height, width, channels) of the built-in datasets' images; own data is assumed CIFAR-sized.
IMAGE_SHAPES = {"mnist": (28, 28, 1), "fashion-mnist": (28, 28, 1)}
# GPU-seconds to train one model on one million examples for one epoch at 32 x 32 pixels, on an
# A100-class GPU (batched MLPs: per model); `train.device: cpu` multiplies it by CPU_SLOWDOWN.
ARCH_SECONDS = {"mlp": 0.5, "cnn": 2.0, "resnet9": 8.0, "inception": 40.0, "resnet18": 60.0}
RESNET50_SECONDS = 200.0
CPU_SLOWDOWN = 50


def study_scale(study):
    """(n, n_test, bytes of one image) of a study; an own dataset whose sizes the config does
    not give counts as 60,000 + 10,000 images."""
    dataset = study["dataset"]
    if dataset in SPLIT_SIZES:
        n, n_test = study_sizes(study)
    else:
        n, n_test = study.get("n_train") or 60000, study.get("n_test") or 10000
    side = config["data"]["image_size"] if dataset == "imagenet" else 32
    height, width, channels = IMAGE_SHAPES.get(dataset, (side, side, 3))
    return n, n_test, height * width * channels


def whole_dataset(dataset):
    """A study of all of a dataset's examples (what its cache holds)."""
    return {"dataset": dataset, "n_train": None, "n_test": None}


def data_mb(study):
    """The study's images (train and test, uint8) in MB."""
    n, n_test, image_bytes = study_scale(study)
    return (n + n_test) * image_bytes / MB


def store_mb(study):
    """The study's (t, n) and (t, n_test) arrays: mask, correctness, predictions (int16)."""
    n, n_test, _ = study_scale(study)
    return study["trials"] * (4 * n + n_test) / MB


def model_seconds(study, n_examples):
    """Seconds to train one model of the study's recipe on n_examples examples."""
    arch, train = study["arch"], study["train"]
    family = "mlp" if arch.startswith("mlp") else arch
    seconds = ARCH_SECONDS.get(family, RESNET50_SECONDS)
    _, _, image_bytes = study_scale(study)
    seconds *= n_examples * train["epochs"] / MB * max(image_bytes / 3072, 1)
    return seconds * (CPU_SLOWDOWN if train["device"] == "cpu" else 1)


def minutes(seconds, attempt, floor=10):
    """A job's time limit: 1.5 x the estimate plus a start-up allowance, per attempt."""
    return attempt * (floor + math.ceil(1.5 * seconds / 60))


def megabytes(mb, attempt, base=2000):
    """A job's memory: a base for Python, torch and HDF5 plus mb, per attempt, in whole GB."""
    return attempt * 1000 * math.ceil((base + mb) / 1000)


def get_training_gpus(wildcards):
    """One GPU per training job unless the study trains on the CPU (`train.device: cpu`)."""
    return 0 if study_config(wildcards)["train"]["device"] == "cpu" else 1


def get_training_mem_mb(wildcards, attempt):
    """The study's images twice (read, then as tensors), as float32 too when on the CPU."""
    study = study_config(wildcards)
    factor = 6 if study["train"]["device"] == "cpu" else 2
    return megabytes(factor * data_mb(study), attempt, base=4000)


def get_trial_runtime(wildcards, attempt):
    """trials_per_job models on m = subset_ratio * n examples (the same for every shard of a
    study, so that the shards can be one SLURM array)."""
    study = study_config(wildcards)
    n, _, _ = study_scale(study)
    seconds = study["trials_per_job"] * model_seconds(study, subset_size(n, study["subset_ratio"]))
    return minutes(seconds, attempt, floor=15)


def get_removal_runtime(wildcards, attempt):
    """The repeats of the shard times the kinds of the part (two but for `full` and
    `random-*`), on at most n examples each."""
    study = study_config(wildcards)
    n, _, _ = study_scale(study)
    kinds = 1 if wildcards.part == "full" or wildcards.part.startswith("random-") else 2
    models = (int(wildcards.stop) - int(wildcards.start)) * kinds
    return minutes(models * model_seconds(study, n), attempt, floor=15)


def get_full_model_runtime(wildcards, attempt):
    """One model on all n examples (rules/lastlayer.smk)."""
    study = study_config(wildcards)
    n, _, _ = study_scale(study)
    return minutes(model_seconds(study, n), attempt, floor=15)


def get_cache_mem_mb(wildcards, attempt):
    """A dataset cache is built in memory: its images about three times over."""
    return megabytes(3 * data_mb(whole_dataset(wildcards.dataset)), attempt)


def get_cache_runtime(wildcards, attempt):
    """Hours for ImageNet (decoding 1.3 million JPEGs), an hour for the others."""
    return attempt * (600 if wildcards.dataset == "imagenet" else 60)


def get_study_data_mem_mb(wildcards, attempt):
    """The whole cache and the study's subsample of it."""
    dataset = study_config(wildcards)["dataset"]
    return megabytes(3 * data_mb(whole_dataset(dataset)), attempt)


def get_store_mem_mb(wildcards, attempt):
    """The study's (t, n) arrays, twice (shards and the concatenation)."""
    return megabytes(2 * store_mb(study_config(wildcards)), attempt)


def get_estimate_mem_mb(wildcards, attempt):
    """Blocks of the store and (t, n) counts; the full n x n_test influence in blocks."""
    study = study_config(wildcards)
    n, n_test, _ = study_scale(study)
    full = lookup(dpath="influence", within=config) == "full"
    return megabytes(store_mb(study) / 2 + (8 * 2048 * n_test / MB if full else 0), attempt)


def get_short_runtime(wildcards, attempt):
    """Half an hour, for one pass over a study's data or a released file."""
    return 30 * attempt


def get_store_runtime(wildcards, attempt):
    """Reading and counting the store: about a minute per GB, at least half an hour."""
    return attempt * (30 + math.ceil(store_mb(study_config(wildcards)) / 1000))


def get_released_mem_mb(wildcards, attempt):
    """The released file's n x n_test float32 influence, three times over."""
    n, n_test, _ = study_scale(study_config(wildcards))
    return megabytes(3 * 4 * n * n_test / MB, attempt)


def get_lastlayer_mem_mb(wildcards, attempt):
    """Representations (up to 2,048 float32 features per example) and the linear store."""
    study = study_config(wildcards)
    n, n_test, _ = study_scale(study)
    return megabytes(4 * 2048 * (n + n_test) / MB + 2 * store_mb(study), attempt)


def get_lastlayer_runtime(wildcards, attempt):
    """t linear models on the CPU, a second per thousand examples each (rough)."""
    study = study_config(wildcards)
    n, _, _ = study_scale(study)
    return minutes(study["trials"] * n / 1000, attempt, floor=30)


def group_studies(wildcards):
    return [canonical(config["studies"][s]) for s in config["compare"]["groups"][wildcards.group]]


def get_group_mem_mb(wildcards, attempt):
    """The stores of the group's studies, side by side."""
    studies = group_studies(wildcards)
    return megabytes(sum(2 * store_mb(study) for study in studies), attempt)


def get_group_runtime(wildcards, attempt):
    """Reading the group's stores and estimating twice per pair of studies."""
    studies = group_studies(wildcards)
    return attempt * (30 + math.ceil(sum(store_mb(study) for study in studies) / 500))
