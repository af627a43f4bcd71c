"""Snakemake adapter: dataset cache -> the study's subsample with label noise recorded."""

from longtail.data import make_study_data
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    params = snakemake.params.data
    make_study_data(
        snakemake.input.cache,
        snakemake.output[0],
        n_train=params["n_train"],
        n_test=params["n_test"],
        label_noise=params["label_noise"],
        seed=params["seed"],
    )
