"""Snakemake adapter: train repeats [start, stop) of one removal part (Fig. 2, Section 3)."""

from longtail.train.stages import train_removal
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    train_removal(
        snakemake.input.data,
        snakemake.output[0],
        {**snakemake.params.study, "train": {**snakemake.params.study["train"],
                                             "threads": snakemake.threads}},
        snakemake.wildcards.part,
        int(snakemake.wildcards.start),
        int(snakemake.wildcards.stop),
        estimates_path=snakemake.input.get("estimates"),
        pairs_path=snakemake.input.get("pairs"),
    )
