"""Snakemake adapter: pairs, influence and images -> figures/fig3.pdf (Fig. 3)."""

from longtail.reporting.figures import make_fig3
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_fig3(snakemake.params.studies, snakemake.input.estimates, snakemake.input.pairs,
              snakemake.input.data, snakemake.input.about, snakemake.output.pdf,
              snakemake.output.png, snakemake.params.options,
              summaries=snakemake.input.summaries)
