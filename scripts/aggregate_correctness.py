"""Snakemake adapter: trial shards -> results/{study}/correctness.h5."""

from longtail.train.stages import aggregate
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    aggregate(snakemake.input.data, snakemake.input.shards, snakemake.output[0],
              snakemake.params.study)
