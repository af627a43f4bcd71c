"""Image grids of training and test examples: Fig. 1 (examples with memorization estimates
near 0, 0.5 and 1) and Fig. 3 (high-influence pairs), with the selections that pick them."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from longtail.config.schema import schema_default
from longtail.reporting.errors import ReportingError
from longtail.reporting.plots.style import (
    COLORS,
    IMAGE_SIZE,
    TEXT_WIDTH,
    TITLE_HEIGHT,
    InchCanvas,
    show_image,
)

# The config's defaults of Fig. 3's options (plots.fig3), for callers that pass none.
FIG3_GROUPS = schema_default("plots", "fig3", "groups")
FIG3_PER_GROUP = schema_default("plots", "fig3", "per_group")
FIG3_TESTS = schema_default("plots", "fig3", "tests")

# ---------------------------------------------------------------- Fig. 1


def examples_near(mem: np.ndarray, labels: np.ndarray, classes: Sequence[int],
                  targets: Sequence[float], per_group: int, seed: int = 0) -> np.ndarray:
    """Fig. 1's examples: for each class and target value, the ``per_group`` training examples
    of that class whose mem~ is closest to the target (no example twice; examples at equal
    distance in a seeded random order, so the pick is not biased towards low indices).

    Returns (len(classes), len(targets), per_group) int64 indices, -1 where a class has too
    few examples with a defined estimate.
    """
    mem = np.asarray(mem, dtype=np.float64)
    labels = np.asarray(labels)
    tiebreak = np.random.default_rng(seed).permutation(len(mem))
    out = np.full((len(classes), len(targets), per_group), -1, dtype=np.int64)
    for row, label in enumerate(classes):
        free = (labels == label) & np.isfinite(mem)
        for column, target in enumerate(targets):
            candidates = np.flatnonzero(free)
            order = np.lexsort((tiebreak[candidates], np.abs(mem[candidates] - target)))
            pick = candidates[order[:per_group]]
            out[row, column, :len(pick)] = pick
            free[pick] = False
    return out


def resolve_classes(wanted: Sequence[int | str] | None, class_names: Sequence[str],
                    default_count: int = 4) -> list[int]:
    """Class indices from a config list of indices or names; None: the first few classes."""
    if wanted is None:
        return list(range(min(default_count, len(class_names))))
    out = []
    for item in wanted:
        if isinstance(item, str):
            if item not in class_names:
                raise ReportingError(f"class '{item}' is not one of {list(class_names)}")
            out.append(list(class_names).index(item))
        elif 0 <= int(item) < len(class_names):
            out.append(int(item))
        else:
            raise ReportingError(f"class index {item} is outside 0..{len(class_names) - 1}")
    return out


@dataclass
class ExampleGrid:
    """One study's Fig. 1 panel: rows of classes, groups of columns per target value."""

    title: str
    row_labels: list[str]       # class names
    targets: list[float]        # the mem~ values the column groups are near
    images: np.ndarray          # (rows, groups, per_group, H, W, C) uint8
    values: np.ndarray          # (rows, groups, per_group) mem~, NaN where no example


def _image_unit(columns: float, fixed: float, width: float = TEXT_WIDTH) -> float:
    """Side of one image (inches) so that ``columns`` images plus ``fixed`` inches of labels and
    gaps fill ``width``, kept within IMAGE_SIZE."""
    low, high = IMAGE_SIZE
    return float(np.clip((width - fixed) / columns, low, high))


FIG1_LABEL = 0.95   # inches left of the grid for the class names
FIG1_GAP = (0.05, 0.25)  # inches between images, between groups of columns
FIG1_HEAD = 0.55    # inches for the panel title and the group headers


def draw_fig1(grids: Sequence[ExampleGrid]) -> Figure:
    """Fig. 1: training examples with memorization estimates near each target value, one
    panel per study; each image is titled with its mem~, each row labelled with its class."""
    if not grids:
        raise ReportingError("Fig. 1 needs at least one study")
    gap, group_gap = FIG1_GAP
    shapes = [grid.values.shape for grid in grids]
    columns = max(groups * per for _, groups, per in shapes)
    max_groups = max(groups for _, groups, _ in shapes)
    fixed = FIG1_LABEL + (columns - max_groups) * gap + (max_groups - 1) * group_gap + 0.1
    unit = _image_unit(columns, fixed)
    row_height = TITLE_HEIGHT + unit + 0.06
    heights = [FIG1_HEAD + rows * row_height + 0.1 for rows, _, _ in shapes]
    canvas = InchCanvas(fixed + columns * unit, sum(heights))
    top = 0.0
    for grid, height in zip(grids, heights, strict=True):
        rows, groups, per_group = grid.values.shape
        canvas.text(canvas.width / 2, top + 0.02, grid.title, fontsize=8.5)
        for group in range(groups):
            x0 = FIG1_LABEL + group * (per_group * unit + (per_group - 1) * gap + group_gap)
            canvas.text(x0 + (per_group * unit + (per_group - 1) * gap) / 2, top + 0.27,
                        f"mem ≈ {grid.targets[group]:g}", fontsize=8.5, fontweight="bold")
            for row in range(rows):
                y = top + FIG1_HEAD + row * row_height + TITLE_HEIGHT
                if group == 0:
                    canvas.text(FIG1_LABEL - 0.08, y + unit / 2, grid.row_labels[row],
                                fontsize=7.5, ha="right", va="center")
                for slot in range(per_group):
                    value = grid.values[row, group, slot]
                    if np.isnan(value):
                        continue
                    ax = canvas.axes(x0 + slot * (unit + gap), y, unit, unit)
                    show_image(ax, grid.images[row, group, slot], f"{value:.2f}")
        top += height
    return canvas.fig


# ---------------------------------------------------------------- Fig. 3


def spread_groups(train_index: np.ndarray, max_infl: np.ndarray, groups: int = FIG3_GROUPS,
                  per_group: int = FIG3_PER_GROUP) -> list[np.ndarray]:
    """Fig. 3's selection, without cherry-picking (Section 3): sort the training examples of the
    pairs by the highest influence they have on a test example (descending; ties by index) and
    take ``groups`` runs of ``per_group`` consecutive examples starting at evenly spread
    positions of that order (first run at the top, last run at the bottom). With fewer than
    groups * per_group examples, all of them in runs of ``per_group``."""
    train_index = np.asarray(train_index, dtype=np.int64)
    max_infl = np.asarray(max_infl, dtype=np.float64)
    ranked = train_index[np.lexsort((train_index, -max_infl))]
    count = len(ranked)
    if count <= groups * per_group:
        return [ranked[start:start + per_group] for start in range(0, count, per_group)]
    starts = np.round(np.linspace(0, count - per_group, groups)).astype(int)
    return [ranked[start:start + per_group] for start in starts]


def highest_influence(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(unique training examples of the pairs, the highest influence of each)."""
    best = pairs.groupby("train_index")["infl"].max()
    return best.index.to_numpy(dtype=np.int64), best.to_numpy(dtype=np.float64)


def top_influenced(infl: np.ndarray, test_index: np.ndarray, k: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` test examples with the highest (defined) influence in ``infl`` (aligned with
    ``test_index``), highest first (ties by index), and their influence values."""
    infl = np.asarray(infl, dtype=np.float64)
    test_index = np.asarray(test_index, dtype=np.int64)
    defined = np.isfinite(infl)
    infl, test_index = infl[defined], test_index[defined]
    order = np.lexsort((test_index, -infl))[:k]
    return test_index[order], infl[order]


@dataclass
class PairRow:
    """One row of Fig. 3: a memorized training example and its most influenced test examples."""

    label: str
    train_image: np.ndarray   # (H, W, C) uint8
    mem: float
    test_images: np.ndarray   # (k, H, W, C) uint8
    infl: np.ndarray          # (k,)


@dataclass
class PairPanel:
    """One study's Fig. 3 panel: groups of rows, or a note when there are no pairs."""

    title: str
    groups: list[list[PairRow]]
    note: str = ""


FIG3_GAP = (0.04, 0.1, 0.3)  # inches between test images, after the training image, groups
FIG3_WIDTH = 8.0             # inches the three groups of a panel should fill


def draw_fig3(panels: Sequence[PairPanel], tests: int = FIG3_TESTS) -> Figure:
    """Fig. 3: high-influence pairs. Per row, the memorized training example (framed, titled with
    its mem~ and labelled with its class) and the ``tests`` test examples it influences most
    (titled with the influence estimate); groups of rows side by side; one panel per study."""
    if not panels:
        raise ReportingError("Fig. 3 needs at least one study")
    gap, train_gap, group_gap = FIG3_GAP
    groups = max([len(p.groups) for p in panels] + [1])
    fixed = groups * ((tests - 1) * gap + train_gap) + (groups - 1) * group_gap + 0.1
    unit = _image_unit(groups * (1 + tests), fixed, FIG3_WIDTH)
    row_height = TITLE_HEIGHT + unit + 0.2
    group_width = (1 + tests) * unit + (tests - 1) * gap + train_gap
    width = fixed + groups * (1 + tests) * unit
    titles = [textwrap.fill(p.title, int(width * 15), break_on_hyphens=False) for p in panels]
    heads = [0.3 + 0.15 * title.count("\n") for title in titles]  # room for wrapped titles
    heights = [head + max([len(g) for g in p.groups] or [1]) * row_height
               for head, p in zip(heads, panels, strict=True)]
    canvas = InchCanvas(width, sum(heights))
    top = 0.0
    for panel, title, head, height in zip(panels, titles, heads, heights, strict=True):
        canvas.text(canvas.width / 2, top + 0.02, title, fontsize=8.5)
        if not panel.groups:
            canvas.text(canvas.width / 2, top + head + row_height / 2, panel.note, va="center")
        for g, group in enumerate(panel.groups):
            x0 = 0.05 + g * (group_width + group_gap)
            for r, row in enumerate(group):
                y = top + head + r * row_height + TITLE_HEIGHT
                ax = canvas.axes(x0, y, unit, unit)
                show_image(ax, row.train_image, f"mem {row.mem:.2f}", color=COLORS["memorized"])
                ax.set_xlabel(row.label, fontsize=6.5, labelpad=1.5)
                for j, (image, value) in enumerate(zip(row.test_images, row.infl, strict=True)):
                    ax = canvas.axes(x0 + unit + train_gap + j * (unit + gap), y, unit, unit)
                    show_image(ax, image, f"{value:.2f}")
        top += height
    return canvas.fig
