"""The paper's figures: pure drawing functions (arrays and tables in, a matplotlib Figure out)
in one style (:mod:`longtail.reporting.plots.style`). Reading results and writing files is
:mod:`longtail.reporting.figures`' job."""

from longtail.reporting.plots.consistency import draw_consistency
from longtail.reporting.plots.curves import (
    NoisePanel,
    draw_fig2,
    draw_figC1,
    draw_label_noise,
    draw_mem_hist,
)
from longtail.reporting.plots.examples import (
    ExampleGrid,
    PairPanel,
    PairRow,
    draw_fig1,
    draw_fig3,
    examples_near,
    highest_influence,
    resolve_classes,
    spread_groups,
    top_influenced,
)
from longtail.reporting.plots.style import figure_style, save_figure, show_image
from longtail.reporting.plots.trials_curve import draw_trials_curve

__all__ = ["ExampleGrid", "NoisePanel", "PairPanel", "PairRow", "draw_fig1", "draw_fig2",
           "draw_fig3", "draw_figC1", "draw_label_noise", "draw_mem_hist", "examples_near",
           "figure_style", "highest_influence", "resolve_classes", "save_figure", "show_image",
           "spread_groups", "top_influenced", "draw_consistency", "draw_trials_curve"]
