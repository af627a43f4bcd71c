"""Snakemake adapter: reliability reports -> figures/consistency.pdf (split-half Jaccard against
the thresholds, Section 2)."""

from longtail.reporting.figures import make_consistency
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_consistency(snakemake.params.studies, snakemake.input.reliability,
                     snakemake.input.about, snakemake.output.pdf, snakemake.output.png)
