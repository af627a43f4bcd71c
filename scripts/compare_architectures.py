"""Snakemake adapter: one group of studies (same data and subsets, different architectures)
-> agreement statistics, Jaccard curves and per-example mem on the common trials (Sec. C)."""

from longtail.estimators.agreement import compare_group_files
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    compare_group_files(
        snakemake.wildcards.group,
        dict(zip(snakemake.params.studies, snakemake.input.stores, strict=True)),
        snakemake.output.stats,
        snakemake.output.curves,
        snakemake.output.mem,
        mem_threshold=snakemake.params.thresholds["mem"],
        infl_threshold=snakemake.params.thresholds["infl"],
        seed=snakemake.params.seed,
        min_trials=snakemake.params.min_out_trials,
    )
