"""Snakemake adapter: the cross-architecture comparison figure (Sec. C)."""

from longtail.reporting.comparison import make_arch_comparison
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_arch_comparison(
        list(snakemake.input.stats),
        list(snakemake.input.curves),
        list(snakemake.input.mem),
        snakemake.output.pdf,
        snakemake.output.png,
    )
