"""Image galleries: an explained example next to its top influencers (``longtail explain
--png``), the most memorized training examples of a class and the strongest pairs (report)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from longtail.reporting.plots.style import COLORS, TITLE_HEIGHT, InchCanvas, show_image

SIDE = 0.9  # inches per image
GAP = 0.12


def draw_row_gallery(rows: Sequence[tuple[str, Sequence[np.ndarray], Sequence[str]]],
                     highlight_first: bool = False) -> Figure:
    """One row per entry ``(row title, images, image titles)``: images left to right, each
    with a small title; with ``highlight_first`` the first image of each row is framed (the
    example being explained)."""
    columns = max((len(images) for _, images, _ in rows), default=1) or 1
    row_height = SIDE + 3 * TITLE_HEIGHT + GAP + 0.18
    canvas = InchCanvas(columns * (SIDE + GAP) + GAP, max(1, len(rows)) * row_height + 0.05)
    for r, (title, images, titles) in enumerate(rows):
        top = r * row_height + 0.05
        canvas.text(GAP, top, title, ha="left", fontsize=7.5, weight="bold")
        for c, (image, caption) in enumerate(zip(images, titles, strict=True)):
            ax = canvas.axes(GAP + c * (SIDE + GAP), top + 0.18 + 3 * TITLE_HEIGHT, SIDE, SIDE)
            show_image(ax, image, color=COLORS["memorized"] if highlight_first and c == 0
                       else None)
            canvas.text(GAP + c * (SIDE + GAP) + SIDE / 2, top + 0.2, caption, fontsize=6,
                        linespacing=1.05)
    return canvas.fig
