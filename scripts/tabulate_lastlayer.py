"""Snakemake adapter: full-model vs last-layer-only estimates -> tables/lastlayer.{csv,md}."""

from longtail.reporting.lastlayer import tabulate_lastlayer_files
from longtail.train.lastlayer import LastLayerInputs
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    tabulate_lastlayer_files(
        list(snakemake.params.studies),
        {name: list(snakemake.input[name]) for name in LastLayerInputs.__dataclass_fields__},
        snakemake.params.thresholds["mem"],
        snakemake.params.thresholds["infl"],
        snakemake.output.csv,
        snakemake.output.md,
    )
