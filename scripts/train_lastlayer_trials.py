"""Snakemake adapter: one linear model per trial on the representations, on the study's own
subsets I_k -> results/{study}/lastlayer/correctness.h5 (the store schema)."""

from longtail.train.lastlayer import train_lastlayer
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    train_lastlayer(
        snakemake.input.data,
        snakemake.input.representations,
        snakemake.output[0],
        snakemake.params.study,
        {**snakemake.params.linear, "threads": snakemake.threads},
    )
