"""Snakemake adapter: train trials [start, stop) of a study into one shard."""

from longtail.train.stages import train_shard
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    train_shard(
        snakemake.input.data,
        snakemake.output[0],
        {**snakemake.params.study, "train": {**snakemake.params.study["train"],
                                             "threads": snakemake.threads}},
        int(snakemake.wildcards.start),
        int(snakemake.wildcards.stop),
    )
