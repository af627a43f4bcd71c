"""Snakemake adapter: imported released estimates -> about.json / about.rst."""

from longtail.reporting.provenance import write_released_about
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    write_released_about(snakemake.input[0], snakemake.wildcards.study, snakemake.params.study,
                         snakemake.output.json, snakemake.output.rst)
