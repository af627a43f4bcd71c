"""The data files' part of the HDF5 layer (:mod:`longtail.store.h5`): the layout shared by the
dataset cache and the study data (images, vectors, class names) and their content hash."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import h5py
import numpy as np

from longtail.store import h5 as layer

from .errors import DataError

_HASH_CHUNK_BYTES = 1 << 24


class ArrayLike(Protocol):
    shape: tuple[int, ...]
    dtype: np.dtype

    def __getitem__(self, key: slice) -> np.ndarray: ...


def content_hash(arrays: Mapping[str, ArrayLike], names: Sequence[str],
                 classes: Sequence[str]) -> str:
    """sha256 over name, dtype, shape and bytes of each array (in ``names`` order) and classes.

    Works on numpy arrays and on h5py datasets alike, reading in chunks of rows.
    """
    digest = hashlib.sha256()
    for name in names:
        array = arrays[name]
        dtype = np.dtype(array.dtype).newbyteorder("<")
        digest.update(f"{name}|{dtype.str}|{tuple(array.shape)}|".encode())
        row_bytes = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * dtype.itemsize)
        step = max(1, _HASH_CHUNK_BYTES // row_bytes)
        for start in range(0, array.shape[0], step):
            digest.update(np.ascontiguousarray(array[start:start + step], dtype=dtype).data)
    digest.update(json.dumps(list(classes)).encode())
    return "sha256:" + digest.hexdigest()


def create_images(h5: h5py.File, name: str, n: int, image_shape: Sequence[int]) -> h5py.Dataset:
    """An (n, H, W, C) uint8 dataset chunked in about 1 MiB blocks of whole images,
    gzip-compressed and checksummed."""
    return layer.create_dataset(h5, name, shape=(n, *image_shape), dtype=np.uint8,
                                compression="gzip", compression_opts=1)


def write_vector(h5: h5py.File, name: str, data: np.ndarray, dtype: type) -> None:
    layer.create_dataset(h5, name, np.asarray(data, dtype=np.dtype(dtype).newbyteorder("<")))


def write_classes(h5: h5py.File, classes: Sequence[str]) -> None:
    layer.create_dataset(h5, "classes", layer.strings(classes))


def open_h5(path: str | os.PathLike, what: str) -> h5py.File:
    """Open ``path`` read-only (:func:`longtail.store.h5.open_file`); DataError naming it if it is
    unreadable or incomplete."""
    return layer.open_file(path, DataError, what)


def read_all(h5: h5py.File, names: Sequence[str], path: str | os.PathLike,
             what: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """All datasets ``names`` and the class names; DataError naming ``path`` and the dataset
    if any is missing or corrupt."""
    missing = [name for name in (*names, "classes") if name not in h5]
    if missing:
        raise DataError(f"{path}: {what} lacks datasets {missing}")
    arrays = {name: layer.read(h5, name, path, DataError) for name in names}
    return arrays, layer.read_strings(h5, "classes", path, DataError)


def verify_hash(arrays: Mapping[str, np.ndarray], names: Sequence[str], classes: Sequence[str],
                expected: Any, path: str | os.PathLike, what: str) -> None:
    """Raise DataError naming ``path`` unless the arrays hash to ``expected``."""
    actual = content_hash(arrays, names, classes)
    if actual != expected:
        raise DataError(f"{path}: {what} content hash {actual} does not match the recorded "
                        f"{expected}; the file is corrupt or was modified. Delete it and rebuild.")
