"""Snakemake adapter: correctness store -> about.json / about.rst (what was run, accuracy)."""

from longtail.reporting.provenance import write_about
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    write_about(snakemake.input[0], snakemake.wildcards.study, snakemake.params.study,
                snakemake.output.json, snakemake.output.rst)
