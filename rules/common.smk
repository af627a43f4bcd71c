from snakemake.utils import validate

import yaml

from longtail.config import (
    ConfigError,
    canonical,
    check_config,
    check_data_paths,
    check_own_data_paths,
    check_released_files,
    data_fingerprint,
    name_custom_datasets,
    released_studies,
    schema_errors,
    trial_shards,
    trials_fingerprint,
)
from longtail.removal import random_part, removal_shards, threshold_part

SCHEMA = "../schemas/config.schema.yaml"

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


def study_config(wildcards):
    return canonical(config["studies"][wildcards.study])


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
    study = study_config(wildcards)
    return [
        f"results/{wildcards.study}/trials/{start}-{stop}.h5"
        for start, stop in trial_shards(study["trials"], study["trials_per_job"])
    ]


def get_data_params(wildcards):
    """Only what determines the study's data, so unrelated edits do not rebuild it."""
    study = study_config(wildcards)
    keys = ("n_train", "n_test", "label_noise", "seed")
    return canonical(
        {**{key: study[key] for key in keys}, "fingerprint": data_fingerprint(study)}
    )


def get_training_params(wildcards):
    """What determines a trial; excludes `trials`, so adding trials retrains nothing old."""
    study = study_config(wildcards)
    keys = ("dataset", "n_train", "n_test", "label_noise", "seed", "arch", "subset_ratio")
    return canonical(
        {
            **{key: study[key] for key in keys},
            "train": study["train"],
            "fingerprint": trials_fingerprint(study),
        }
    )


def get_training_threads(wildcards):
    return study_config(wildcards)["train"]["threads"]


def get_store_params(wildcards):
    """The study as the correctness store records it; `removal` is left out, so a change of
    Fig. 2's thresholds or repeats re-aggregates and re-estimates nothing."""
    return {key: value for key, value in study_config(wildcards).items() if key != "removal"}


def get_min_out_trials(wildcards):
    return study_config(wildcards)["min_out_trials"]


def get_study_seed(wildcards):
    return study_config(wildcards)["seed"]


# Last-layer-only estimates (rules/lastlayer.smk) and cross-architecture groups (compare.smk).
LASTLAYER_STUDIES = config["lastlayer"]["studies"]
COMPARE_GROUPS = list(config["compare"]["groups"])


def get_lastlayer_study(wildcards):
    """What determines the linear trials of a study: its trials' parameters and t."""
    return canonical(
        {**get_training_params(wildcards), "trials": study_config(wildcards)["trials"]}
    )


def get_lastlayer_train(wildcards):
    return canonical(config["lastlayer"]["train"])


def get_lastlayer_threads(wildcards):
    return config["lastlayer"]["train"]["threads"]


def get_group_studies(wildcards):
    return config["compare"]["groups"][wildcards.group]


def get_group_stores(wildcards):
    return [f"results/{study}/correctness.h5" for study in get_group_studies(wildcards)]


def get_group_seed(wildcards):
    """The split of the common trials into halves is seeded by the (shared) study seed."""
    return config["studies"][get_group_studies(wildcards)[0]]["seed"]


def get_group_min_out_trials(wildcards):
    return min(config["studies"][s]["min_out_trials"] for s in get_group_studies(wildcards))


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
    return config["figures"].get(figure, [])


def table_studies(table):
    return config["tables"].get(table, [])


def per_study(studies, name):
    """results/{study}/<name> for each of the studies."""
    return [f"results/{study}/{name}" for study in studies]


def removal_shard_files(studies, families):
    """Removal shards of the studies for the part families: `full` (the baseline), `mem`
    (one part per Fig. 2 threshold), `pairs` (the pairs' training examples) and `random` (one
    part per fraction in `removal.random_fractions`)."""
    paths = []
    for name in studies:
        study = canonical(config["studies"][name])
        removal = study["removal"]
        parts = ["full"] if "full" in families else []
        if "mem" in families:
            parts += [threshold_part(threshold) for threshold in removal["thresholds"]]
        if "pairs" in families:
            parts.append("pairs")
        if "random" in families:
            parts += [random_part(fraction) for fraction in removal["random_fractions"]]
        paths += [
            f"results/{name}/removal/{part}/{start}-{stop}.h5"
            for part in parts
            for start, stop in removal_shards(removal["repeats"], study["trials_per_job"])
        ]
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
    return canonical(
        {**get_training_params(wildcards), "trials": study_config(wildcards)["trials"]}
    )


def get_plot_options(figure):
    return canonical(config["plots"][figure])


def get_figure_outputs():
    """Every configured figure (PDF and PNG) and table (CSV, Markdown, LaTeX, HTML)."""
    outputs = []
    for figure, studies in config["figures"].items():
        outputs += [f"figures/{figure}.{ext}" for ext in FIGURE_FORMATS if studies]
    for table, studies in config["tables"].items():
        outputs += [f"tables/{table}.{ext}" for ext in TABLE_FORMATS if studies]
    return outputs


def get_docs_figures():
    """The README's copies of the configured figures (target `docs`)."""
    return [f"docs/figures/{figure}.png" for figure, studies in config["figures"].items() if studies]


def get_released_file(wildcards):
    return config["studies"][wildcards.study]["released"]


GALLERY_STUDIES = config["galleries"]["studies"]


def get_gallery_options(wildcards):
    return canonical({k: v for k, v in config["galleries"].items() if k != "studies"})


def get_gallery_outputs():
    """The report's galleries of the studies `galleries.studies` lists."""
    return [f"results/{study}/gallery/pairs.png" for study in GALLERY_STUDIES]


def get_final_output():
    per_study = ["pairs.csv", "summary.json"]
    return (
        [f"results/{study}/{name}" for study in config["studies"] for name in per_study]
        + [f"results/{study}/consistency.csv" for study in TRAINED_STUDIES]
        + [f"results/{study}/reliability.json" for study in TRAINED_STUDIES]
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


def get_selection_settings(wildcards):
    """Thresholds (numbers or `auto`), grids, target and permutations of the selection and
    its reliability (rules/estimate.smk), key-sorted so that reordering reruns nothing."""
    return canonical(config["thresholds"])
