"""Snakemake adapter: summaries -> tables/pairs.{csv,md,tex,html} (Section 3's pair counts)."""

from longtail.reporting.tables import make_pairs_table
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_pairs_table(snakemake.input.summaries, snakemake.input.about, snakemake.output)
