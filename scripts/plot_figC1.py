"""Snakemake adapter: pairs -> figures/figC1.pdf (Fig. C.1, pairs per influence level)."""

from longtail.reporting.figures import make_figC1
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_figC1(snakemake.params.studies, snakemake.input.pairs, snakemake.input.about,
               snakemake.output.pdf, snakemake.output.png, snakemake.params.options,
               summaries=snakemake.input.summaries)
