"""Snakemake adapter: correctness store -> estimates.h5 (Algorithm 1, lines 4-8)."""

from longtail.estimates import estimate_store
from longtail.workflow import log_to

with log_to(snakemake.log[0]):
    estimate_store(snakemake.input[0], snakemake.output[0],
                   influence=snakemake.params.influence,
                   min_out_trials=snakemake.params.min_out_trials)
