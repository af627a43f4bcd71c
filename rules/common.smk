import os
import shlex
import sys

from snakemake.utils import validate

from longtail.config import (
    ConfigError,
    check_config,
    check_data_paths,
    check_own_data_paths,
    check_released_files,
    name_custom_datasets,
    released_studies,
    schema_errors,
)
from longtail.detector_wiring import DetectorWiring, kfold_runtime
from longtail.resources import JobResources
from longtail.schema import SCHEMA_PATH, load_schema, schema_default
from longtail.study import Study, canonical, fill_dependent_defaults

# Rules that a `longtail` subcommand does call it; it is the one of the environment Snakemake
# runs in (an inactive .venv, a conda env, on SLURM nodes too): its bin folder goes first on
# PATH, after Snakemake's default prefix (bash strict mode).
shell.prefix(
    f"set -euo pipefail; export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH; "
)

# One line per bad value (naming the key and what is allowed) before Snakemake's own validate,
# which fills in the defaults; the schema is the package's own (longtail/config.schema.yaml).
problems = schema_errors(config, load_schema())
if problems:
    raise ConfigError("invalid configuration: " + "; ".join(problems))
fill_dependent_defaults(config)  # train.ensemble_size follows trials_per_job when unset
validate(config, schema=str(SCHEMA_PATH))
check_config(config)

DATA_DIR = config["data"]["dir"]
check_data_paths(config, DATA_DIR)
check_released_files(config)
check_own_data_paths(config)
# Own datasets ({kind: folder|arrays, ...}) get a cache name; studies record that name.
CUSTOM_DATASETS = name_custom_datasets(config)
# Each study's description, built once: its params, fingerprints and shard names.
STUDIES = {name: Study.from_config(name, study) for name, study in config["studies"].items()}
# What each job asks a cluster for (mem_mb, runtime, gpu), derived from its study: the rules'
# `resources:` name its methods (longtail.resources; a site's profile may override them).
RESOURCES = JobResources.from_config(STUDIES, config)

# Studies whose estimates are imported from the authors' released file instead of trained.
RELEASED_STUDIES = released_studies(config)
TRAINED_STUDIES = [study for study in config["studies"] if study not in RELEASED_STUDIES]
# Label-error detectors (rules/detectors.smk): their studies, K-fold splits and inputs.
DETECTORS = DetectorWiring.from_config(config, TRAINED_STUDIES)
KFOLD_RUNTIME = kfold_runtime(RESOURCES)


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
    return f"{DATA_DIR}/{get_study(wildcards).dataset}.h5"


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
        + DETECTORS.outputs()  # rules/detectors.smk
    )


# Section 2's thresholds (the schema's defaults), which `auto` falls back to where no grid
# value replicates.
PAPER_THRESHOLDS = {key: schema_default("thresholds", key) for key in ("infl", "mem")}


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
