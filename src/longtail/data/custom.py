"""A user's own dataset as a cache: an image folder or an ``.npz`` of arrays (no torch).

``{kind: folder, root: PATH}``: torchvision's ``ImageFolder`` layout with two splits,
``PATH/train/<class>/<image>`` and ``PATH/test/<class>/<image>``; class names are the folder
names of ``train/`` in sorted order (a test folder must name one of them). Every image must
decode and have the same size; grayscale images give one channel, any colour image makes the
dataset RGB.

``{kind: arrays, path: FILE.npz}``: ``x_train`` (N, H, W[, C]) and ``x_test`` (M, H, W[, C])
uint8 images, ``y_train`` (N,) and ``y_test`` (M,) integer labels, optional ``classes`` (K,)
names (default: "0", "1", ... up to the largest label).

Anything wrong (an unreadable image, a label out of range, mismatched shapes, a class without
training examples) raises DataError naming the file, folder or index, before any training.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .cache import Converted, SplitSource, write_cache
from .errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff",
                    ".webp")
KINDS = ("folder", "arrays")


def _split(images: np.ndarray, labels: np.ndarray) -> SplitSource:
    return SplitSource(len(images), tuple(images.shape[1:]), np.arange(len(images), dtype=np.int64),
                       [(images, labels)])


def _check_classes(labels: np.ndarray, classes: list[str], where: str) -> None:
    """Every class has at least one training example."""
    counts = np.bincount(labels, minlength=len(classes))
    empty = [classes[c] for c in np.flatnonzero(counts == 0)]
    if empty:
        raise DataError(f"{where}: classes without any training example: {empty[:10]}")


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image.load()
            mode = "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
            return np.asarray(image.convert(mode), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataError(f"{path}: not a readable image ({err})") from err


def _folder_split(root: Path, split: str, classes: list[str] | None
                  ) -> tuple[list[Path], np.ndarray, list[str]]:
    folder = root / split
    if not folder.is_dir():
        raise DataError(f"{folder}: missing; an image folder dataset needs {root}/train/<class>/ "
                        f"and {root}/test/<class>/")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if classes is None:
        classes = found
        if not classes:
            raise DataError(f"{folder}: no class folders")
    unknown = [name for name in found if name not in classes]
    if unknown:
        raise DataError(f"{folder}: class folders {unknown} are not in {root}/train "
                        f"(classes: {classes[:10]}{' ...' if len(classes) > 10 else ''})")
    files, labels = [], []
    for name in found:
        images = sorted(p for p in (folder / name).iterdir()
                        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if split == "train" and not images:
            raise DataError(f"{folder / name}: class '{name}' has no images "
                            f"({', '.join(IMAGE_EXTENSIONS)})")
        files += images
        labels += [classes.index(name)] * len(images)
    if not files:
        raise DataError(f"{folder}: no images")
    return files, np.asarray(labels, np.int64), classes


def read_folder(root: str | os.PathLike) -> tuple[Converted, dict[str, Any]]:
    """Both splits of an image folder as arrays, and the sources to record."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (dataset kind folder, root)")
    train_files, train_labels, classes = _folder_split(root, "train", None)
    test_files, test_labels, _ = _folder_split(root, "test", classes)
    decoded = [_read_image(path) for path in (*train_files, *test_files)]
    color = any(image.ndim == 3 for image in decoded)
    shapes = {}
    for path, image in zip((*train_files, *test_files), decoded, strict=True):
        size = image.shape[:2]
        first = shapes.setdefault("size", (path, size))
        if size != first[1]:
            raise DataError(f"{path}: image is {size[1]}x{size[0]} pixels, but {first[0]} is "
                            f"{first[1][1]}x{first[1][0]}; every image must have the same size")
    stacked = np.stack([np.repeat(image[..., None], 3, axis=2) if color and image.ndim == 2
                        else image if color else image[..., None] for image in decoded])
    n = len(train_files)
    sources = {"kind": "folder", "root": str(root.resolve()), "train_images": n,
               "test_images": len(test_files)}
    return Converted(_split(stacked[:n], train_labels), _split(stacked[n:], test_labels),
                     classes), sources


def _labels(data: Mapping[str, np.ndarray], key: str, size: int, classes: int | None,
            path: Path) -> np.ndarray:
    labels = np.asarray(data[key])
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: {key} must be 1-D integers, got shape {labels.shape}, dtype "
                        f"{labels.dtype}")
    if len(labels) != size:
        x_key = key.replace("y_", "x_")
        raise DataError(f"{path}: {x_key} has {size} images but {key} has {len(labels)} labels")
    if classes is not None and len(labels):
        bad = np.flatnonzero((labels < 0) | (labels >= classes))
        if len(bad):
            raise DataError(f"{path}: {key}[{bad[0]}] = {labels[bad[0]]} is outside "
                            f"0..{classes - 1} (the {classes} classes)")
    return labels.astype(np.int64)


def read_arrays(path: str | os.PathLike) -> tuple[Converted, dict[str, Any]]:
    """Both splits of an ``.npz`` of arrays, and the sources to record."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, AttributeError) as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from err
    missing = [key for key in ("x_train", "y_train", "x_test", "y_test") if key not in data]
    if missing:
        raise DataError(f"{path}: missing arrays {missing}; an arrays dataset has x_train, "
                        f"y_train, x_test, y_test and optionally classes")
    images = {}
    for key in ("x_train", "x_test"):
        x = np.asarray(data[key])
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise DataError(f"{path}: {key} has shape {np.shape(data[key])}; expected (N, H, W) "
                            f"or (N, H, W, C) with C = 1 or 3")
        if x.dtype != np.uint8:
            if not np.issubdtype(x.dtype, np.integer) or (x.size and (x.min() < 0 or
                                                                      x.max() > 255)):
                raise DataError(f"{path}: {key} must hold uint8 pixel values 0..255, got dtype "
                                f"{x.dtype}")
            x = x.astype(np.uint8)
        images[key] = x
    if images["x_train"].shape[1:] != images["x_test"].shape[1:]:
        raise DataError(f"{path}: x_train images are {images['x_train'].shape[1:]} but x_test "
                        f"images {images['x_test'].shape[1:]}; both must have the same shape")
    classes = [str(c) for c in np.asarray(data["classes"]).tolist()] if "classes" in data \
        else None
    y_train = _labels(data, "y_train", len(images["x_train"]),
                      len(classes) if classes else None, path)
    if classes is None:
        classes = [str(c) for c in range(int(y_train.max()) + 1 if len(y_train) else 0)]
        if len(y_train) and y_train.min() < 0:
            bad = int(np.flatnonzero(y_train < 0)[0])
            raise DataError(f"{path}: y_train[{bad}] = {y_train[bad]} is negative")
    y_test = _labels(data, "y_test", len(images["x_test"]), len(classes), path)
    sources = {"kind": "arrays", "path": str(path.resolve())}
    return Converted(_split(images["x_train"], y_train), _split(images["x_test"], y_test),
                     classes), sources


def build_custom_cache(name: str, spec: Mapping[str, Any], out_path: str | os.PathLike) -> str:
    """Check a user's dataset (``spec`` from the config) and write it as the cache ``name``;
    returns its content hash."""
    kind = spec.get("kind")
    if kind == "folder":
        converted, sources = read_folder(spec["root"])
        where = str(Path(spec["root"]) / "train")
    elif kind == "arrays":
        converted, sources = read_arrays(spec["path"])
        where = f"{spec['path']}: y_train"
    else:
        raise DataError(f"unknown dataset kind {kind!r}; allowed: {', '.join(KINDS)}")
    labels = np.concatenate([labels for _, labels in converted.train.batches])
    _check_classes(labels, converted.classes, where)
    return write_cache(out_path, name, converted, {"sources": sources, "spec": dict(spec)})
