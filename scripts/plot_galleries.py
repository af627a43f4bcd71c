"""Snakemake adapter: estimates, pairs and images -> the report's galleries of one study."""

from longtail.reporting.gallery import write_galleries
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    write_galleries(snakemake.input.estimates, snakemake.input.data, snakemake.input.pairs,
                    snakemake.output.classes, snakemake.output.pairs,
                    examples=snakemake.params.options["examples"],
                    pairs=snakemake.params.options["pairs"])
