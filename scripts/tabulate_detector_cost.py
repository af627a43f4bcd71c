"""Snakemake adapter: trials and K-fold splits of the noise studies -> tables/detector_cost."""

from longtail.reporting.detectors import make_detector_cost
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_detector_cost(snakemake.params.studies, snakemake.input.stores,
                       snakemake.params.kfold, snakemake.params.trials,
                       snakemake.params.main_folds, snakemake.output.csv, snakemake.output.md)
