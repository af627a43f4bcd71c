"""Snakemake adapter: split-half selection consistency (Section 2, Sec. C) as a CSV table."""

from longtail.select import consistency_table
from longtail.store import atomic_path
from longtail.workflow import log_to

with log_to(snakemake.log[0]):
    thresholds = snakemake.params.thresholds
    table = consistency_table(snakemake.input[0], mem_threshold=thresholds["mem"],
                              seed=snakemake.params.seed,
                              min_trials=snakemake.params.min_out_trials)
    with atomic_path(snakemake.output[0]) as tmp:
        table.to_csv(tmp, index=False)
