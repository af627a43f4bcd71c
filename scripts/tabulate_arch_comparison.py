"""Snakemake adapter: every group's statistics -> tables/arch_comparison.{csv,md}."""

from longtail.reporting.comparison import tabulate_comparisons
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    tabulate_comparisons(list(snakemake.input), snakemake.output.csv, snakemake.output.md)
