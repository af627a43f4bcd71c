"""Snakemake adapter: estimates and flipped labels -> tables/label_noise.{csv,md,tex,html}."""

from longtail.reporting.tables import make_label_noise_table
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_label_noise_table(snakemake.input.estimates, snakemake.input.data,
                           snakemake.input.about, snakemake.output)
