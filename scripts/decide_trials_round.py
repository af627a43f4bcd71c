"""Snakemake adapter: the shards of a round -> results/{study}/rounds/{round}.json (whether a
study that trains until its findings replicate stops after this round)."""

from longtail.train.stages import decide_trials_round
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    decide_trials_round(snakemake.input.data, snakemake.input.shards, snakemake.output[0],
                        snakemake.params.study, int(snakemake.wildcards.round),
                        snakemake.params.thresholds)
