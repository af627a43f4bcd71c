"""Snakemake adapter: estimates -> figures/mem_hist.pdf (distribution of mem per study)."""

from longtail.reporting.figures import make_mem_hist
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_mem_hist(snakemake.params.studies, snakemake.input.estimates, snakemake.output.pdf,
                  snakemake.output.png, snakemake.params.options,
                  snakemake.params.mem_threshold)
