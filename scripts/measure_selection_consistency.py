"""Snakemake adapter: split-half consistency of the selections (Section 2, Sec. C), the
thresholds to use (fixed or `auto`) and the pairs expected by chance."""

from longtail.reliability import reliability, write_reliability
from longtail.workflow import log_to

with log_to(snakemake.log[0]):
    report, table = reliability(snakemake.input.store, snakemake.input.estimates,
                                snakemake.params.thresholds, seed=snakemake.params.seed,
                                min_trials=snakemake.params.min_out_trials)
    write_reliability(report, table, snakemake.output.reliability,
                      snakemake.output.consistency)
