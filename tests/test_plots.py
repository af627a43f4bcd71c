"""Figures: the paper's selections (Fig. 1 and Fig. 3) on arrays with known answers, images
drawn as stored, and every drawing function writing a PDF and a PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from longtail.labels.noise import label_noise_metrics
from longtail.reporting.plots import (
    ExampleGrid,
    NoisePanel,
    PairPanel,
    PairRow,
    draw_fig1,
    draw_fig2,
    draw_fig3,
    draw_figC1,
    draw_label_noise,
    draw_mem_hist,
    examples_near,
    figure_style,
    highest_influence,
    resolve_classes,
    save_figure,
    show_image,
    spread_groups,
    top_influenced,
)
from longtail.reporting.plots.curves import influence_bins


def test_examples_near_each_target_without_repeats():
    mem = np.array([0.0, 0.1, 0.5, 0.45, 1.0, 0.9, 0.0, np.nan, 0.5])
    labels = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1])
    chosen = examples_near(mem, labels, [0], [0.0, 0.5, 1.0], per_group=2, seed=3)
    assert chosen.shape == (1, 3, 2)
    assert set(chosen[0, 0]) == {0, 6}   # the two zeros
    assert set(chosen[0, 1]) == {2, 3}   # 0.5 and 0.45 (index 8 is another class)
    assert set(chosen[0, 2]) == {4, 5}   # 1.0 and 0.9; index 1 (0.1) is farther
    more = examples_near(mem, labels, [1, 0], [0.5], per_group=3, seed=0)
    assert more[0, 0].tolist() == [8, -1, -1]  # class 1 has one example
    assert 7 not in more  # NaN estimates are never shown


def test_examples_near_ties_follow_the_seed_not_the_index():
    mem, labels = np.zeros(50), np.zeros(50, int)
    picks = {tuple(examples_near(mem, labels, [0], [0.0], 3, seed)[0, 0]) for seed in range(5)}
    assert len(picks) > 1
    assert picks != {(0, 1, 2)}


def test_resolve_classes_by_index_or_name():
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    assert resolve_classes(None, names) == [0, 1, 2, 3]
    assert resolve_classes(["Dress", 1], names) == [3, 1]
    with pytest.raises(ValueError, match="not one of"):
        resolve_classes(["Hat"], names)
    with pytest.raises(ValueError, match="outside"):
        resolve_classes([7], names)


def test_fig3_selection_sorts_by_highest_influence_and_spreads_groups():
    train = np.arange(100, 120)
    best = np.linspace(0.9, 0.16, 20)[::-1]  # train 119 has the highest influence
    groups = spread_groups(train, best, groups=3, per_group=5)
    ranked = train[::-1]
    # starts round(linspace(0, 15, 3)) = 0, 8 (7.5 rounds to even), 15
    assert [g.tolist() for g in groups] == [ranked[0:5].tolist(), ranked[8:13].tolist(),
                                            ranked[15:20].tolist()]
    few = spread_groups(np.array([5, 3, 9, 1, 2, 8, 7]), np.array([.2, .5, .5, .3, .9, .1, .4]))
    assert [g.tolist() for g in few] == [[2, 3, 9, 7, 1], [5, 8]]  # ties by index: 3 before 9


def test_highest_and_top_influenced():
    pairs = pd.DataFrame({"train_index": [4, 4, 2], "test_index": [0, 1, 3],
                          "infl": [0.2, 0.5, 0.3]})
    train, best = highest_influence(pairs)
    assert train.tolist() == [2, 4] and best.tolist() == [0.3, 0.5]
    test, values = top_influenced(np.array([0.1, np.nan, 0.4, 0.4, -0.2]),
                                  np.array([10, 11, 12, 13, 14]), 3)
    assert test.tolist() == [12, 13, 10] and values.tolist() == [0.4, 0.4, 0.1]


def test_images_are_shown_as_stored():
    fig = Figure()
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4, 1) * 20
    ax = fig.add_subplot(1, 2, 1)
    show_image(ax, gray, "0.50")
    image = ax.get_images()[0]
    np.testing.assert_array_equal(image.get_array(), gray[..., 0])
    assert image.get_cmap().name == "gray" and image.get_clim() == (0, 255)
    assert ax.get_title() == "0.50"
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255  # red stays red: channels in stored (RGB) order
    ax = fig.add_subplot(1, 2, 2)
    show_image(ax, rgb)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), rgb)


def test_influence_bins_start_at_the_threshold():
    np.testing.assert_allclose(influence_bins(0.15, 0.05), np.arange(0.15, 1.0001, 0.05))
    assert influence_bins(0.15, 0.05)[-1] == pytest.approx(1.0)


def _saved(fig: Figure, tmp_path, name: str) -> None:
    with figure_style():
        save_figure(fig, tmp_path / f"{name}.pdf", tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")


def _check_fig2(curve: pd.DataFrame, tmp_path) -> None:
    """Fig. 2 with intervals: the full set's band, the differences, a legend clear of the
    axes."""
    with_ci = curve.assign(difference_mean=[np.nan, -0.08, np.nan, -0.03, np.nan],
                           difference_low=[np.nan, -0.1, np.nan, -0.05, np.nan],
                           difference_high=[np.nan, -0.06, np.nan, 0.01, np.nan])
    fig = draw_fig2([("s1", with_ci)], band="std")
    top, middle = fig.axes[0], fig.axes[1]
    (band,) = top.patches  # the full set's band: 80 +- 1 std
    assert (band.get_y(), band.get_height()) == pytest.approx((79, 2))
    bars = middle.containers[0]
    np.testing.assert_allclose(bars.lines[0].get_ydata(), [-8, -3])
    assert not any(ax.get_legend() for ax in fig.axes) and len(fig.legends) == 1
    _saved(fig, tmp_path, "fig2_ci")  # draws the layout
    legend = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        assert not legend.overlaps(ax.get_window_extent())


def test_every_figure_draws_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 3, 2, 8, 8, 3), dtype=np.uint8)
    values = rng.uniform(size=(2, 3, 2))
    values[1, 2, 1] = np.nan  # a missing example leaves its place empty
    grid = ExampleGrid("study", ["a", "b"], [0.0, 0.5, 1.0], images, values)
    _saved(draw_fig1([grid, grid]), tmp_path, "fig1")

    curve = pd.DataFrame({"threshold": [np.nan, 0.25, 0.25, 0.5, 0.5],
                          "kind": ["full", "memorized", "random", "memorized", "random"],
                          "models": [2] * 5, "removed": [0, 30, 30, 10, 10],
                          "fraction_remaining": [1, 0.7, 0.7, 0.9, 0.9],
                          "accuracy_mean": [0.8, 0.7, 0.78, 0.76, 0.79],
                          "accuracy_std": [0.01] * 5})
    fig2 = draw_fig2([("s1", curve), ("s2", curve)], band="se")
    top = fig2.axes[0]
    assert [line.get_label() for line in top.get_lines()][:2] == [
        "memorized removed (mem ≥ threshold)", "same number removed at random"]
    np.testing.assert_allclose(top.get_lines()[0].get_ydata(), [70, 76])
    _saved(fig2, tmp_path, "fig2")
    _check_fig2(curve, tmp_path)

    row = PairRow("Shirt", images[0, 0, 0], 0.8, images[0, :, 0], np.array([0.5, 0.3, 0.2]))
    _saved(draw_fig3([PairPanel("s", [[row, row], [row]]),
                      PairPanel("empty", [], note="no pairs")], tests=4), tmp_path, "fig3")

    figc1 = draw_figC1([("s", np.array([0.16, 0.18, 0.4, 0.95]), 0.15),
                        ("none", np.array([]), 0.15)], bin_width=0.05)
    heights = [patch.get_height() for patch in figc1.axes[0].patches]
    assert sum(heights) == 4 and heights[0] == 2
    _saved(figc1, tmp_path, "figC1")

    _saved(draw_mem_hist([("a", rng.uniform(-0.1, 1, 500)), ("b", np.r_[np.nan, 0.1])], 0.25),
           tmp_path, "mem_hist")

    mem, flipped = rng.uniform(size=200), rng.uniform(size=200) < 0.1
    panel = NoisePanel("noisy", mem, flipped, label_noise_metrics(mem, flipped))
    _saved(draw_label_noise([panel, panel]), tmp_path, "label_noise")


def test_empty_figures_are_refused():
    for draw in (draw_fig1, draw_fig3, draw_figC1, draw_label_noise):
        with pytest.raises(ValueError, match="at least one study"):
            draw([])
    with pytest.raises(ValueError, match="at least one study"):
        draw_fig2([])
    with pytest.raises(ValueError, match="at least one study"):
        draw_mem_hist([], 0.25)
