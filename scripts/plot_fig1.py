"""Snakemake adapter: estimates and images -> figures/fig1.pdf (Fig. 1)."""

from longtail.reporting.figures import make_fig1
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_fig1(snakemake.params.studies, snakemake.input.estimates, snakemake.input.data,
              snakemake.input.about, snakemake.output.pdf, snakemake.output.png,
              snakemake.params.options)
