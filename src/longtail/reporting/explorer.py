"""A study's explorer: a static website (``results/{study}/explorer/index.html``) to browse every
training and test example with its estimates, like the paper authors' website.

The site is the package's fixed page (``site/``: ``index.html``, ``explorer.js``,
``explorer.css``) plus what this module writes beside it: ``data.js`` (one global,
``LONGTAIL_EXPLORER``, since browsers refuse ``fetch`` from file://), PNG sprite sheets of the
thumbnails (``sprites/``) and copies of the study's figures (``figures/``). It opens from file://
or any static host, offline; it loads nothing from elsewhere.

Influence is stored as the top-k per example (:func:`longtail.reporting.explain.top_k`, the
ranking of ``longtail explain``), never the dense matrix: for a test example the k training
examples with the highest infl~ on it, for a training example the k test examples it
influences most, each with its standard error, plus every selected pair (``pairs.csv``).
The folder's files: docs/formats.md ("The explorer folder").
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from longtail.config.defaults import DEFAULT_TOP
from longtail.data import StudyData, load_study_data
from longtail.estimators.estimates import Estimates, iter_influence, read_estimates
from longtail.estimators.select import block_at_least
from longtail.reporting.explain import top_k
from longtail.store.io import write_bytes, write_text

SHEET_COLUMNS = 32           # thumbnails per row of a sprite sheet (32 x 32 per sheet)
THUMB_MAX = 64               # longest side of a thumbnail in pixels; larger images are shrunk
DIGITS = 4                   # decimals of the estimates in data.js
SITE_FILES = ("index.html", "explorer.js", "explorer.css")
DATA_GLOBAL = "LONGTAIL_EXPLORER"

PathLike = str | os.PathLike


# ---- sprite sheets ----------------------------------------------------------------------------

def sprite_layout(count: int, columns: int = SHEET_COLUMNS) -> np.ndarray:
    """(count, 3) int: sheet, column and row of each thumbnail, in index order; a sheet holds
    ``columns`` x ``columns`` thumbnails (explorer.js computes the same from the index)."""
    index = np.arange(count)
    cell = index % (columns * columns)
    return np.stack([index // (columns * columns), cell % columns, cell // columns], axis=1)


def thumbnails(images: np.ndarray, max_side: int = THUMB_MAX) -> np.ndarray:
    """(k, h, w, c) uint8 images shrunk by the smallest integer factor that brings the longest
    side to at most ``max_side`` (mean of f x f blocks, edges padded); unchanged if small."""
    images = np.asarray(images, np.uint8)
    factor = math.ceil(max(images.shape[1:3]) / max_side) if images.ndim == 4 else 1
    if factor <= 1:
        return images
    k, h, w, c = images.shape
    pad = ((0, 0), (0, -h % factor), (0, -w % factor), (0, 0))
    padded = np.pad(images, pad, mode="edge").astype(np.float32)
    blocks = padded.reshape(k, padded.shape[1] // factor, factor, padded.shape[2] // factor,
                            factor, c)
    return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)


def sprite_sheets(images: np.ndarray, columns: int = SHEET_COLUMNS) -> list[np.ndarray]:
    """The thumbnails (k, h, w, c) tiled into sheets of ``columns`` x ``columns`` (the last
    sheet only as tall as its rows), black where a sheet has no thumbnail."""
    k, h, w, c = images.shape
    per_sheet = columns * columns
    sheets = []
    for start in range(0, k, per_sheet):
        part = images[start:start + per_sheet]
        rows = math.ceil(len(part) / columns)
        grid = np.zeros((rows * columns, h, w, c), np.uint8)
        grid[:len(part)] = part
        sheets.append(grid.reshape(rows, columns, h, w, c).transpose(0, 2, 1, 3, 4)
                      .reshape(rows * h, columns * w, c))
    return sheets


def png_bytes(image: np.ndarray) -> bytes:
    """An (h, w, 1 | 3) uint8 image as PNG (greyscale or RGB)."""
    image = np.asarray(image, np.uint8)
    mode = "L" if image.shape[2] == 1 else "RGB"
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if mode == "L" else image[..., :3], mode).save(
        buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# ---- influence, top-k per example -------------------------------------------------------------

def merge_top(best: tuple[np.ndarray, np.ndarray, np.ndarray], index: np.ndarray,
              infl: np.ndarray, se: np.ndarray, k: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the k highest of the current ``best`` (index, infl, se; index -1 = empty) and
    the candidates ``index`` (broadcast to ``infl``'s shape), ties by the lower index."""
    index = np.broadcast_to(index, infl.shape)
    all_index = np.concatenate([best[0], index], axis=1)
    all_infl = np.concatenate([best[1], infl], axis=1)
    all_se = np.concatenate([best[2], se], axis=1)
    pick = top_k(np.where(all_index >= 0, all_infl, np.nan), k, all_index)
    empty = pick < 0
    pick = np.where(empty, 0, pick)
    return (np.where(empty, -1, np.take_along_axis(all_index, pick, 1)),
            np.where(empty, np.nan, np.take_along_axis(all_infl, pick, 1)),
            np.where(empty, np.nan, np.take_along_axis(all_se, pick, 1)))


def top_influence(estimates_path: PathLike, k: int = DEFAULT_TOP,
                  infl_threshold: float | None = None) -> dict[str, dict[str, np.ndarray]]:
    """In one pass over the influence blocks of ``estimates.h5``: for every test example the
    k training examples with the highest infl~ on it, for every training example the k test
    examples it influences most (``index`` (size, k), -1 where fewer were estimated; ``infl``,
    ``se``), as ``longtail explain`` ranks them. With ``infl_threshold`` also ``count``: the
    same-class examples of the other split with infl~ >= it (exact, as the selection decides)."""
    estimates = read_estimates(estimates_path)
    sizes = {"train": len(estimates.mem), "test": len(estimates.test_labels)}
    out = {split: {"index": np.full((size, k), -1, np.int64),
                   "infl": np.full((size, k), np.nan), "se": np.full((size, k), np.nan)}
           for split, size in sizes.items()}
    if infl_threshold is not None:
        for split, size in sizes.items():
            out[split]["count"] = np.zeros(size, np.int64)
    if estimates.attrs["influence"] == "none":
        return out
    for block in iter_influence(estimates_path):
        for split, rows, cols, infl, se in (
                ("train", block.train_index, block.test_index, block.infl, block.infl_se),
                ("test", block.test_index, block.train_index, block.infl.T, block.infl_se.T)):
            top = out[split]
            best = (top["index"][rows], top["infl"][rows], top["se"][rows])
            top["index"][rows], top["infl"][rows], top["se"][rows] = merge_top(
                best, cols[None, :], np.asarray(infl, np.float64), np.asarray(se, np.float64),
                k)
        if infl_threshold is not None:
            same = estimates.train_labels[block.train_index, None] == \
                estimates.test_labels[None, block.test_index]
            above = block_at_least(estimates, block, infl_threshold) & same
            np.add.at(out["train"]["count"], block.train_index, above.sum(axis=1))
            np.add.at(out["test"]["count"], block.test_index, above.sum(axis=0))
    return out


# ---- data.js ----------------------------------------------------------------------------------

def _values(array: np.ndarray | None, digits: int | None = DIGITS) -> list | None:
    """A JSON-ready list: floats rounded, NaN and infinities as null (JSON has no NaN)."""
    if array is None:
        return None
    array = np.asarray(array)
    if array.dtype == bool:
        return array.astype(int).tolist()
    if np.issubdtype(array.dtype, np.integer) or digits is None:
        return array.tolist()
    rounded = np.round(array.astype(np.float64), digits)
    return [value if math.isfinite(value) else None for value in rounded.ravel().tolist()]


def _split_data(estimates: Estimates, split: str, top: dict[str, np.ndarray],
                data: StudyData | None) -> dict[str, Any]:
    if split == "test":
        fields = {"label": estimates.test_labels, "source": estimates.test_source_index}
    else:
        fields = {"label": estimates.train_labels, "source": estimates.train_source_index,
                  "mem": estimates.mem, "mem_se": estimates.mem_se, "p_in": estimates.p_in,
                  "p_out": estimates.p_out, "n_in": estimates.n_in, "n_out": estimates.n_out,
                  "suggested": estimates.suggested_label,
                  "suggested_share": estimates.suggested_label_share}
        if data is not None and data.train_label_flipped.any():
            fields["original"] = data.y_train_clean
            fields["flipped"] = data.train_label_flipped
    out = {name: _values(value) for name, value in fields.items() if value is not None}
    out["count"] = _values(top.get("count"))
    out["top"] = {"index": _values(top["index"].ravel()), "infl": _values(top["infl"]),
                  "se": _values(top["se"])}
    return out


def _pairs_data(pairs: pd.DataFrame | None) -> dict[str, list] | None:
    if pairs is None:
        return None
    return {"train": _values(pairs["train_index"].to_numpy(np.int64)),
            "test": _values(pairs["test_index"].to_numpy(np.int64)),
            "infl": _values(pairs["infl"].to_numpy(np.float64)),
            "se": _values(pairs["infl_se"].to_numpy(np.float64)),
            "mem": _values(pairs["mem"].to_numpy(np.float64))}


def _read_json(path: PathLike | None) -> dict[str, Any] | None:
    if not path:
        return None
    return json.loads(Path(path).read_text())


def _json_safe(value: Any) -> Any:
    """A JSON file's content with NaN (Python's json writes it) replaced by null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def explorer_data(estimates_path: PathLike, study: str, *, data: StudyData | None = None,
                  pairs: pd.DataFrame | None = None, summary: dict | None = None,
                  about: dict | None = None, reliability: dict | None = None,
                  thumb: dict | None = None, figures: Sequence[str] = (),
                  k: int = DEFAULT_TOP) -> dict[str, Any]:
    """Everything ``data.js`` holds: the study's description, per split the examples' labels
    and estimates with their top-k influence (flat, k per example), the pairs, the sprite
    sheets (``thumb``, None without images) and the figures' file names."""
    estimates = read_estimates(estimates_path)
    infl_threshold = (summary or {}).get("infl_threshold")
    top = top_influence(estimates_path, k, infl_threshold)
    classes = list(data.classes) if data is not None else []
    return _json_safe({
        "study": study, "k": k, "influence": estimates.attrs["influence"],
        "classes": classes, "about": about, "summary": summary, "reliability": reliability,
        "attrs": {key: value.item() if isinstance(value, np.generic) else value
                  for key, value in estimates.attrs.items()
                  if isinstance(value, str | int | float | np.generic)},
        "train": _split_data(estimates, "train", top["train"], data),
        "test": _split_data(estimates, "test", top["test"], None),
        "pairs": _pairs_data(pairs), "thumb": thumb, "figures": list(figures)})


def data_js(content: dict[str, Any]) -> str:
    """``data.js``: the content as a JSON string literal that sets the global (browsers parse
    JSON.parse of a string faster than the same object literal; ASCII only, so no escapes
    beyond backslash and quote are needed)."""
    text = json.dumps(content, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    literal = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"window.{DATA_GLOBAL} = JSON.parse('{literal}');\n"


def write_sprites(data: StudyData, out_dir: Path, columns: int = SHEET_COLUMNS
                  ) -> dict[str, Any]:
    """The thumbnails of both splits as PNG sprite sheets in ``out_dir/sprites``; returns their
    layout for data.js."""
    sprites = out_dir / "sprites"
    sheets: dict[str, list[str]] = {}
    size = (0, 0)
    for split, images in (("train", data.x_train), ("test", data.x_test)):
        small = thumbnails(images)
        size = small.shape[1:3]
        sheets[split] = []
        for number, sheet in enumerate(sprite_sheets(small, columns)):
            name = f"sprites/{split}-{number:03d}.png"
            (sprites / Path(name).name).write_bytes(png_bytes(sheet))
            sheets[split].append(name)
    return {"height": int(size[0]), "width": int(size[1]), "columns": columns,
            "sheets": sheets}


def write_explorer(estimates_path: PathLike, out_html: PathLike, *, study: str,
                   data_path: PathLike | None = None, pairs_path: PathLike | None = None,
                   summary_path: PathLike | None = None, about_path: PathLike | None = None,
                   reliability_path: PathLike | None = None, figures: Sequence[PathLike] = (),
                   k: int = DEFAULT_TOP) -> dict[str, int]:
    """Write the explorer into the folder of ``out_html`` (its ``index.html``, written last).
    Without ``data_path`` (e.g. released estimates imported without the study data) pages show
    indices and values, no thumbnails. Returns the bytes written per file kind."""
    out_html = Path(out_html)
    out_dir = out_html.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("sprites", "figures"):
        shutil.rmtree(out_dir / stale, ignore_errors=True)
        (out_dir / stale).mkdir()
    data = load_study_data(data_path) if data_path else None
    thumb = write_sprites(data, out_dir) if data is not None else None
    copied = []
    for figure in figures:
        target = out_dir / "figures" / Path(figure).name
        shutil.copyfile(figure, target)
        copied.append(f"figures/{target.name}")
    content = explorer_data(
        estimates_path, study, data=data, pairs=pd.read_csv(pairs_path) if pairs_path else None,
        summary=_read_json(summary_path), about=_read_json(about_path),
        reliability=_read_json(reliability_path), thumb=thumb, figures=copied, k=k)
    write_text(out_dir / "data.js", data_js(content))
    site = resources.files("longtail.reporting") / "site"
    for name in SITE_FILES:
        if name != "index.html":
            (out_dir / name).write_bytes((site / name).read_bytes())
    write_bytes(out_html, (site / "index.html").read_bytes())
    sizes = {"data.js": (out_dir / "data.js").stat().st_size,
             "sprites": sum(p.stat().st_size for p in (out_dir / "sprites").iterdir()),
             "figures": sum(p.stat().st_size for p in (out_dir / "figures").iterdir()),
             "site": sum((out_dir / name).stat().st_size for name in SITE_FILES)}
    sizes["total"] = sum(sizes.values())
    return sizes
