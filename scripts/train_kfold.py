"""Snakemake adapter: one K-fold split of a study -> out-of-fold probabilities."""

from longtail.train.kfold_training import train_kfold
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    train_kfold(
        snakemake.input.data,
        snakemake.output[0],
        {**snakemake.params.study, "train": {**snakemake.params.study["train"],
                                             "threads": snakemake.threads}},
        int(snakemake.wildcards.folds),
        int(snakemake.wildcards.repeat),
    )
