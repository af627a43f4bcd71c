"""Snakemake adapter: removal runs -> figures/fig2.pdf (Fig. 2), its numbers as CSV and the
caption's intervals as reStructuredText."""

import logging

from longtail.reporting.figures import fig2_caption, make_fig2
from longtail.store.io import write_csv, write_text
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    numbers = make_fig2(snakemake.params.studies, snakemake.input.removal, snakemake.input.about,
                        snakemake.output.pdf, snakemake.output.png, snakemake.params.options)
    logging.info("Fig. 2 numbers:\n%s", numbers.to_string())
    write_csv(snakemake.output.csv, numbers, float_format="%.6g")
    write_text(snakemake.output.rst, fig2_caption(numbers))
