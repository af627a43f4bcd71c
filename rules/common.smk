import os
import shlex
import sys

from snakemake.utils import validate

from longtail.config.bases import resolve_bases
from longtail.config.errors import ConfigError
from longtail.config.schema import SCHEMA_PATH, load_schema
from longtail.config.study import fill_dependent_defaults
from longtail.workflow.checks import (
    check_config,
    check_data_paths,
    check_own_data_paths,
    check_released_files,
    name_custom_datasets,
    schema_errors,
)
from longtail.workflow.detector_wiring import kfold_runtime
from longtail.workflow.resources import JobResources
from longtail.workflow.wiring import Wiring, study_regex

# Rules that a `longtail` subcommand does call it; it is the one of the environment Snakemake
# runs in (an inactive .venv, a conda env, on SLURM nodes too): its bin folder goes first on
# PATH, after Snakemake's default prefix (bash strict mode).
shell.prefix(
    f"set -euo pipefail; export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH; "
)

# A study with `base: <study>` becomes its base merged with its own keys, before anything reads
# it (longtail.config.bases): the schema, the checks and every study description see it merged.
BASES = resolve_bases(config)
# One line per bad value (naming the key and what is allowed) before Snakemake's own validate,
# which fills in the defaults; the schema is the package's own
# (longtail/config/config.schema.yaml).
problems = schema_errors(config, load_schema(), BASES)
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
# The rules' input, parameter and target functions (longtail.workflow.wiring), over each study's
# description (longtail.config.study.Study), built once: its params, fingerprints and shard names.
# A study that trains until its findings replicate reads its rounds' verdicts through the
# checkpoint decide_trials_round (rules/train.smk), each evaluated once the round before says
# to go on.
WIRING = Wiring.from_config(
    config,
    CUSTOM_DATASETS,
    round_file=lambda study, round_index: checkpoints.decide_trials_round.get(
        study=study, round=round_index
    ).output[0],
)
STUDIES = WIRING.studies
# What each job asks a cluster for (mem_mb, runtime, gpu), derived from its study: the rules'
# `resources:` name its methods (longtail.workflow.resources; a site's profile may override them).
RESOURCES = JobResources.from_config(STUDIES, config)

# Studies whose estimates are imported from the authors' released file instead of trained.
RELEASED_STUDIES = WIRING.released_studies
TRAINED_STUDIES = WIRING.trained_studies
UNTIL_STUDIES = WIRING.until_studies
# Last-layer-only estimates (rules/lastlayer.smk) and cross-architecture groups (compare.smk).
LASTLAYER_STUDIES = config["lastlayer"]["studies"]
COMPARE_GROUPS = list(config["compare"]["groups"])
# Label-error detectors (rules/detectors.smk): their studies, K-fold splits and inputs.
DETECTORS = WIRING.detectors
KFOLD_RUNTIME = kfold_runtime(RESOURCES)


wildcard_constraints:
    study="|".join(config["studies"]),
    dataset="[a-z0-9-]+",
    start=r"\d+",
    stop=r"\d+",


# Data and trials (rules/data.smk, train.smk, store.smk).
study_config = WIRING.study_config
get_dataset_cache = WIRING.get_dataset_cache
get_data_sources = WIRING.get_data_sources
get_dataset_spec = WIRING.get_dataset_spec
get_dataset_source = WIRING.get_dataset_source
get_download_dir = WIRING.get_download_dir
get_trial_shards = WIRING.get_trial_shards
get_round_shards = WIRING.get_round_shards
get_until_verdict = WIRING.get_until_verdict
get_data_params = WIRING.get_data_params
get_training_params = WIRING.get_training_params
get_store_params = WIRING.get_store_params
get_description_params = WIRING.get_description_params
# Selection and its reliability (rules/estimate.smk).
get_thresholds = WIRING.get_thresholds
get_selection_inputs = WIRING.get_selection_inputs
get_selection_options = WIRING.get_selection_options
get_selection_settings = WIRING.get_selection_settings
# Last layer and cross-architecture groups (rules/lastlayer.smk, compare.smk).
get_lastlayer_study = WIRING.get_lastlayer_study
get_lastlayer_train = WIRING.get_lastlayer_train
get_group_stores = WIRING.get_group_stores
get_group_seed = WIRING.get_group_seed
get_group_min_out_trials = WIRING.get_group_min_out_trials
# The paper's figures and tables (rules/removal.smk, figures.smk, tables.smk): config
# `figures`/`tables` name the studies each one draws, `plots` holds each figure's options.
figure_studies = WIRING.figure_studies
table_studies = WIRING.table_studies
removal_shard_files = WIRING.removal_shard_files
get_removal_input = WIRING.get_removal_input
get_plot_options = WIRING.get_plot_options
get_docs_figures = WIRING.get_docs_figures
# Galleries and the explorer (rules/figures.smk, explorer.smk).
get_gallery_options = WIRING.get_gallery_options
get_explorer_outputs = WIRING.get_explorer_outputs
get_explorer_inputs = WIRING.get_explorer_inputs
get_explorer_options = WIRING.get_explorer_options
get_docs_explorer = WIRING.get_docs_explorer
get_docs_trials_curve = WIRING.get_docs_trials_curve
get_docs_explorer_view = WIRING.get_docs_explorer_view
# What `snakemake` builds without a target (rule `all` in the Snakefile).
get_final_output = WIRING.get_final_output
