"""Snakemake adapter: estimates and flipped labels -> figures/label_noise.pdf."""

from longtail.reporting.figures import make_label_noise
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_label_noise(snakemake.params.studies, snakemake.input.estimates, snakemake.input.data,
                     snakemake.input.about, snakemake.output.pdf, snakemake.output.png,
                     snakemake.params.options)
