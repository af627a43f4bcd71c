"""Snakemake adapter: removal runs and pairs -> tables/marginal_utility.{csv,md,tex,html}."""

from longtail.reporting.tables import make_marginal_utility_table
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_marginal_utility_table(snakemake.params.studies, snakemake.input.removal,
                                snakemake.input.pairs, snakemake.input.about, snakemake.output,
                                snakemake.input.summary)
