"""Snakemake adapter: the authors' released estimates (.npz) -> estimates.h5."""

from longtail.data import load_study_data
from longtail.released import import_released
from longtail.workflow import log_to

with log_to(snakemake.log[0]):
    data = load_study_data(snakemake.input.data)
    import_released(snakemake.input.released, snakemake.output[0],
                    {"dataset": data.dataset}, data=data)
