"""Snakemake adapter: figures/<name>.png -> docs/figures/<name>.png (the README's copy)."""

from pathlib import Path

from longtail.store.io import write_bytes
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    write_bytes(snakemake.output[0], Path(snakemake.input[0]).read_bytes())
