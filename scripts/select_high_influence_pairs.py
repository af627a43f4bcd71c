"""Snakemake adapter: estimates.h5 -> pairs.csv and the Section 3 summary."""

from longtail.select import select_pairs_file, write_summary
from longtail.workflow import log_to

with log_to(snakemake.log[0]):
    thresholds = snakemake.params.thresholds
    summary = select_pairs_file(snakemake.input[0], snakemake.output.pairs,
                                mem_threshold=thresholds["mem"],
                                infl_threshold=thresholds["infl"])
    write_summary(summary, snakemake.output.summary)
