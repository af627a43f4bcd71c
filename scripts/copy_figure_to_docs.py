"""Snakemake adapter: figures/<name>.png -> docs/figures/<name>.png (the README's copy)."""

import shutil

from longtail.h5 import atomic_path
from longtail.workflow import log_to

with log_to(snakemake.log[0]):
    with atomic_path(snakemake.output[0]) as tmp:
        shutil.copyfile(snakemake.input[0], tmp)
