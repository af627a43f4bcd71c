"""Snakemake adapter: the study's model trained once on all n examples -> its penultimate
representations of every train and test example (Section 3, last layer only)."""

from longtail.train.lastlayer import extract_representations
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    extract_representations(
        snakemake.input.data,
        snakemake.output[0],
        {**snakemake.params.study, "train": {**snakemake.params.study["train"],
                                             "threads": snakemake.threads}},
    )
