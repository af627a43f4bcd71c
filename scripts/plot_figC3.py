"""Snakemake adapter: Fig. C.3, the discrepancy between full-model and last-layer estimates."""

from longtail.reporting.lastlayer import make_figC3
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_figC3(
        list(snakemake.params.studies),
        list(snakemake.input.full_estimates),
        list(snakemake.input.linear_estimates),
        snakemake.input.table,
        snakemake.output.pdf,
        snakemake.output.png,
    )
