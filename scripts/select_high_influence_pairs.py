"""Snakemake adapter: estimates.h5 and the reliability report -> pairs.csv, the Section 3
summary (with its reliability) and the caption text of the selection. The last-layer variant
(rules/lastlayer.smk) and released estimates have no reliability report and select at the
fixed thresholds."""

from pathlib import Path

from longtail.reliability import read_reliability
from longtail.reporting.reliability import select_reliably
from longtail.select import select_pairs_file, write_summary
from longtail.workflow import log_to

with log_to(snakemake.log[0]):
    if "reliability" in snakemake.input.keys():
        select_reliably(snakemake.input.estimates,
                        read_reliability(snakemake.input.reliability), snakemake.output.pairs,
                        snakemake.output.summary, snakemake.output.rst)
    else:
        thresholds = snakemake.params.thresholds
        summary = select_pairs_file(snakemake.input[0], snakemake.output.pairs,
                                    mem_threshold=thresholds["mem"],
                                    infl_threshold=thresholds["infl"])
        write_summary(summary, snakemake.output.summary)
        if "rst" in snakemake.output.keys():
            Path(snakemake.output.rst).write_text(
                f"Pairs selected at the fixed thresholds mem >= {thresholds['mem']} and "
                f"infl >= {thresholds['infl']}; their split-half reliability is unknown "
                f"(these estimates come without the trials to split).\n")
