"""Snakemake adapter: a noise study's trials and K-fold split -> tables/detectors_<study>
and figures/detectors_<study>."""

from longtail.reporting.detectors import make_detectors
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_detectors(snakemake.wildcards.study, snakemake.input.store, [snakemake.input.kfold],
                   dict(snakemake.output.items()))
