"""Snakemake adapter: results/{study}/trials_curve.csv -> figures/trials_curve_{study}.pdf
(split-half Jaccard against t, a line per θ, with the forecasts)."""

from longtail.reporting.figures import make_trials_curve
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    make_trials_curve(snakemake.input.curve, snakemake.input.forecast, snakemake.input.about,
                      float(snakemake.params.target), snakemake.output.pdf,
                      snakemake.output.png)
