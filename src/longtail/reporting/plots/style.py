"""One style for every figure: sizes readable at print size, one palette, images shown as
images, and atomic PDF + PNG output. Figures are built on :class:`matplotlib.figure.Figure`
directly (no pyplot state, no GUI backend)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from longtail.store.io import atomic_path

PNG_DPI = 200
TEXT_WIDTH = 7.0   # inches: a two-column page's text width; figures are drawn at print size
IMAGE_SIZE = (0.42, 0.72)  # inches per example image in the grids (Figs. 1, 3): min, max
TITLE_HEIGHT = 0.17  # inches above an image for its title (7 pt)

COLORS = {
    "memorized": "#c0392b",  # removed by memorization estimate / flipped labels
    "pairs": "#c0392b",
    "flipped": "#c0392b",
    "random": "#2471a3",     # removed at random / clean labels
    "clean": "#2471a3",
    "full": "#4d4d4d",       # full training set, reference lines
    "bars": "#5b7a99",
    "studies": ("#2471a3", "#c0392b", "#239b56", "#b9770e", "#7d3c98"),
}

RC = {
    "font.size": 8.5,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "figure.titlesize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
}


@contextmanager
def figure_style() -> Iterator[None]:
    """Apply the project's rc parameters while a figure is built and saved."""
    with mpl.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches with constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


class InchCanvas:
    """A figure on which axes and text are placed in inches from its top-left corner (the image
    grids need exact sizes: square images, titles just above them, no layout engine)."""

    def __init__(self, width: float, height: float) -> None:
        self.width, self.height = width, height
        self.fig = Figure(figsize=(width, height))

    def axes(self, x: float, y: float, w: float, h: float) -> Axes:
        """Axes whose top-left corner is (x, y) inches from the figure's top-left corner."""
        return self.fig.add_axes((x / self.width, 1 - (y + h) / self.height, w / self.width,
                                  h / self.height))

    def text(self, x: float, y: float, text: str, **kwargs: object) -> None:
        """Text anchored at (x, y) inches from the top-left corner (default: centred, top)."""
        self.fig.text(x / self.width, 1 - y / self.height, text,
                      **{"ha": "center", "va": "top", **kwargs})


def save_figure(fig: Figure, pdf_path: str | os.PathLike, png_path: str | os.PathLike,
                dpi: int = PNG_DPI) -> None:
    """Write the figure as PDF and as PNG (for the README and the report), each atomically."""
    for path, fmt, kwargs in ((pdf_path, "pdf", {}), (png_path, "png", {"dpi": dpi})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, **kwargs)


def show_image(ax: Axes, image: np.ndarray, title: str | None = None,
               color: str | None = None) -> None:
    """Draw one (H, W, C) uint8 image as stored (RGB channel order, not normalised): grey
    levels 0-255 for one channel, RGB for three; no ticks; optional title above."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(color is not None)
        if color is not None:
            spine.set_edgecolor(color)
            spine.set_linewidth(1.5)
    if title is not None:
        ax.set_title(title, fontsize=7, pad=1.5)


def study_colors(count: int) -> Sequence[str]:
    """``count`` distinct colors for studies drawn in one axes."""
    palette = COLORS["studies"]
    return [palette[i % len(palette)] for i in range(count)]
