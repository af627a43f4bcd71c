"""Snakemake adapter: estimates.h5 and the reliability report -> pairs.csv, the Section 3
summary (with its reliability) and the caption text of the selection."""

from longtail.reliability import read_reliability, select_reliably
from longtail.workflow import log_to

with log_to(snakemake.log[0]):
    select_reliably(snakemake.input.estimates, read_reliability(snakemake.input.reliability),
                    snakemake.output.pairs, snakemake.output.summary, snakemake.output.rst)
