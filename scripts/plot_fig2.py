"""Snakemake adapter: removal runs -> figures/fig2.pdf (Fig. 2), its numbers as CSV and the
caption's intervals as reStructuredText."""

import logging

from longtail.h5 import atomic_path
from longtail.reporting.figures import fig2_caption, make_fig2
from longtail.workflow import log_to

with log_to(snakemake.log[0]):
    numbers = make_fig2(snakemake.params.studies, snakemake.input.removal, snakemake.input.about,
                        snakemake.output.pdf, snakemake.output.png, snakemake.params.options)
    logging.info("Fig. 2 numbers:\n%s", numbers.to_string())
    with atomic_path(snakemake.output.csv) as tmp:
        numbers.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(snakemake.output.rst) as tmp:
        tmp.write_text(fig2_caption(numbers))
