"""Snakemake adapter: trial shards -> results/{study}/correctness.h5 (a study that trains until
its findings replicate: the shards up to its last round's t)."""

import json

from longtail.train.stages import aggregate
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    until = None
    if snakemake.input.until:
        with open(snakemake.input.until[0]) as fh:
            until = json.load(fh)
    aggregate(snakemake.input.data, snakemake.input.shards, snakemake.output[0],
              snakemake.params.study, until)
