"""The explorer's Python side (issue 21): sprite layout and sheets, thumbnails, the top-k
influence per example on small arrays with known answers, and data.js with and without images
(colour study data; released estimates imported without the study data)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_estimates import make_store, write
from test_gallery import study_data
from test_released import fabricated

from longtail.cli import main
from longtail.data.cache import Converted, SplitSource, write_cache
from longtail.data.study_data import make_study_data
from longtail.estimators.estimates import estimate_store, load_influence, read_estimates
from longtail.estimators.released import import_released
from longtail.estimators.select import select_pairs_file
from longtail.reporting.explain import influenced, influencers, top_k
from longtail.reporting.explorer import (
    DATA_GLOBAL,
    data_js,
    merge_top,
    sprite_layout,
    sprite_sheets,
    thumbnails,
    top_influence,
)


def read_data_js(site: Path) -> dict:
    """What data.js hands the page: a JSON string in single quotes, JS-escaped."""
    text = (site / "data.js").read_text()
    prefix = f"window.{DATA_GLOBAL} = JSON.parse('"
    assert text.startswith(prefix) and text.endswith("');\n")
    literal = text[len(prefix):-4]
    return json.loads(re.sub(r"\\(.)", r"\1", literal))


def test_data_js_escapes_quotes_and_backslashes(tmp_path: Path) -> None:
    content = {"classes": ["it's", "a\\b", 'say "hi"', "é"]}
    (tmp_path / "data.js").write_text(data_js(content))
    assert read_data_js(tmp_path) == content


def test_sprite_layout_known_cells() -> None:
    layout = sprite_layout(1030, columns=32)
    assert layout.shape == (1030, 3)
    for index, cell in {0: (0, 0, 0), 31: (0, 31, 0), 32: (0, 0, 1), 1023: (0, 31, 31),
                        1024: (1, 0, 0), 1029: (1, 5, 0)}.items():
        assert tuple(layout[index]) == cell


def test_sprite_sheets_place_each_thumbnail_at_its_cell() -> None:
    images = np.arange(9, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 3, 1), np.uint8)
    sheets = sprite_sheets(images, columns=2)   # 4 per sheet: 3 sheets, the last one row
    assert [s.shape for s in sheets] == [(4, 6, 1), (4, 6, 1), (2, 6, 1)]
    for index, (sheet, col, row) in enumerate(sprite_layout(9, columns=2)):
        cell = sheets[sheet][row * 2:(row + 1) * 2, col * 3:(col + 1) * 3]
        assert (cell == index).all()
    assert (sheets[2][:, 3:] == 0).all()          # no 10th image: black


def test_thumbnails_shrink_large_images_only() -> None:
    small = np.zeros((2, 28, 28, 1), np.uint8)
    assert thumbnails(small).shape == (2, 28, 28, 1)
    large = np.zeros((1, 130, 100, 3), np.uint8)
    large[0, :3, :3] = 90                          # the first 3 x 3 block averages to 90
    shrunk = thumbnails(large, max_side=64)        # factor 3: 44 x 34 (edges padded)
    assert shrunk.shape == (1, 44, 34, 3)
    assert (shrunk[0, 0, 0] == 90).all() and (shrunk[0, 1:, 1:] == 0).all()


def test_top_k_ranks_finite_values_ties_by_index() -> None:
    values = np.array([0.1, np.nan, 0.5, 0.5, 0.2])
    assert top_k(values, 3).tolist() == [2, 3, 4]
    assert top_k(values, 9).tolist() == [2, 3, 4, 0, -1]  # NaN never ranked: padded
    assert top_k(values, 2, index=np.array([9, 0, 8, 7, 1])).tolist() == [3, 2]
    grid = np.array([[0.3, 0.1, np.nan], [np.nan, np.nan, np.nan]])
    assert top_k(grid, 2).tolist() == [[0, 1], [-1, -1]]


def test_merging_blocks_equals_one_ranking() -> None:
    rng = np.random.default_rng(0)
    infl = np.round(rng.random((3, 12)), 1)        # many ties
    infl[0, 4] = np.nan
    se = rng.random((3, 12))
    best = (np.full((3, 4), -1), np.full((3, 4), np.nan), np.full((3, 4), np.nan))
    for cols in (slice(0, 5), slice(5, 9), slice(9, 12)):
        best = merge_top(best, np.arange(12)[cols][None, :], infl[:, cols], se[:, cols], 4)
    once = top_k(infl, 4)
    np.testing.assert_array_equal(best[0], once)
    np.testing.assert_array_equal(best[1], np.take_along_axis(infl, once, 1))
    np.testing.assert_array_equal(best[2], np.take_along_axis(se, once, 1))


@pytest.mark.parametrize("influence", ["same-class", "full"])
def test_top_influence_is_what_explain_lists(tmp_path: Path, influence: str) -> None:
    store = make_store(seed=5, t=80, n=24, n_test=10)
    path = tmp_path / "estimates.h5"
    estimate_store(write(tmp_path, store), path, influence=influence, block_size=7)
    est = read_estimates(path)
    top = top_influence(path, k=4, infl_threshold=0.1)
    for j in range(10):
        table = influencers(path, j, 4)
        found = top["test"]["index"][j]
        assert found[found >= 0].tolist() == table["train_index"].tolist()
        np.testing.assert_allclose(top["test"]["infl"][j][:len(table)], table["infl"])
        np.testing.assert_allclose(top["test"]["se"][j][:len(table)], table["infl_se"])
    for i in range(24):
        table = influenced(path, i, 4)
        found = top["train"]["index"][i]
        assert found[found >= 0].tolist() == table["test_index"].tolist()
    dense = load_influence(path, np.arange(24), np.arange(10))
    same = est.train_labels[:, None] == est.test_labels[None, :]
    above = np.nan_to_num(dense, nan=-1) >= 0.1 - 1e-7
    np.testing.assert_array_equal(top["test"]["count"], (above & same).sum(axis=0))
    np.testing.assert_array_equal(top["train"]["count"], (above & same).sum(axis=1))


def test_explorer_site_with_colour_images(tmp_path: Path) -> None:
    store = make_store(seed=3, t=120, n=30, n_test=12)
    est_path = tmp_path / "estimates.h5"
    estimate_store(write(tmp_path, store), est_path)
    rng = np.random.default_rng(2)

    def split(labels: np.ndarray) -> SplitSource:
        images = rng.integers(0, 255, (len(labels), 9, 7, 3), dtype=np.uint8)
        return SplitSource(len(labels), (9, 7, 3), np.arange(len(labels)), [(images, labels)])

    write_cache(tmp_path / "cache.h5", "custom",
                Converted(split(store.train_labels), split(store.test_labels),
                          ["cat", "dog", "<b>owl</b>"]), {})
    data = tmp_path / "data.h5"
    make_study_data(tmp_path / "cache.h5", data, n_train=None, n_test=None, label_noise=0.2,
                    seed=0)
    pairs = tmp_path / "pairs.csv"
    summary = tmp_path / "summary.json"
    assert main(["pairs", str(est_path), str(pairs), "--mem", "0", "--infl", "0.1",
                 "--summary", str(summary)]) == 0
    site = tmp_path / "site"
    assert main(["explorer", str(est_path), str(site / "index.html"), "--study", "colours",
                 "--data", str(data), "--pairs", str(pairs), "--summary", str(summary),
                 "-k", "3"]) == 0
    content = read_data_js(site)
    assert content["study"] == "colours" and content["k"] == 3
    assert content["classes"] == ["cat", "dog", "<b>owl</b>"]
    assert content["thumb"] == {"height": 9, "width": 7, "columns": 32,
                                "sheets": {"train": ["sprites/train-000.png"],
                                           "test": ["sprites/test-000.png"]}}
    sheet = Image.open(io.BytesIO((site / "sprites" / "train-000.png").read_bytes()))
    assert sheet.mode == "RGB" and sheet.size == (32 * 7, 9)  # 30 thumbnails: one row
    assert len(content["train"]["top"]["index"]) == 30 * 3
    assert content["train"]["flipped"].count(1) == 6            # label noise 0.2 of 30
    assert len(content["pairs"]["train"]) == len(pd.read_csv(pairs))
    est = read_estimates(est_path)
    np.testing.assert_allclose([v if v is not None else np.nan for v in content["train"]["mem"]],
                               np.round(est.mem, 4))
    for name in ("index.html", "explorer.js", "explorer.css"):
        assert (site / name).stat().st_size > 0
    html = (site / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing loaded from elsewhere


def test_explorer_of_released_estimates_without_images(tmp_path: Path) -> None:
    est_path = tmp_path / "estimates.h5"
    import_released(fabricated(tmp_path / "released.npz"), est_path, {"dataset": "cifar100"})
    pairs = tmp_path / "pairs.csv"
    select_pairs_file(est_path, pairs, 0.5, 0.5)
    site = tmp_path / "site"
    assert main(["explorer", str(est_path), str(site / "index.html"), "--pairs",
                 str(pairs)]) == 0
    content = read_data_js(site)
    assert content["thumb"] is None and not any((site / "sprites").iterdir())
    assert content["classes"] == [] and content["train"]["mem_se"] == [None] * 12
    assert content["train"]["n_in"] == [-1] * 12
    assert content["test"]["count"] is None  # no summary: no threshold to count against
    assert content["test"]["top"]["index"][:2] == influencers(est_path, 0, 10)[
        "train_index"].tolist()[:2]


def test_gallery_study_data_is_enough(tmp_path: Path) -> None:
    """A greyscale study data file as the galleries use it gives one PNG sheet per split."""
    store = make_store(seed=1, t=60, n=20, n_test=6)
    est_path = tmp_path / "estimates.h5"
    estimate_store(write(tmp_path, store), est_path)
    data = study_data(tmp_path, 20, 6, store.train_labels, store.test_labels)
    assert main(["explorer", str(est_path), str(tmp_path / "x" / "index.html"),
                 "--data", str(data)]) == 0
    sheet = Image.open(tmp_path / "x" / "sprites" / "test-000.png")
    assert sheet.mode == "L" and sheet.size == (32 * 6, 6)
    assert read_data_js(tmp_path / "x")["classes"] == ["zero", "one", "two"]
