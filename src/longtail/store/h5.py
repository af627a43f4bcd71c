"""The one HDF5 layer under every file format of this project: the correctness store and its
trial shards (:mod:`longtail.store.correctness`), ``estimates.h5``
(:mod:`longtail.estimators.estimates`), the dataset cache and the study's ``data.h5``
(:mod:`longtail.data`), removal shards (:mod:`longtail.estimators.removal`) and
``representations.h5`` (:mod:`longtail.train.lastlayer`).

Every file is written the same way (:func:`create`): into a temporary sibling that is renamed
onto the target only after it is complete (:func:`longtail.store.io.atomic_path`, also importable
from here), every dataset chunked and carrying HDF5's
Fletcher-32 checksum per chunk (:func:`create_dataset`), and the root attribute ``complete``
written last. Every file is read the same way: :func:`open_file` refuses a file that is not
HDF5 or lacks ``complete``, and :func:`read` turns a checksum mismatch (a flipped byte; h5py
raises ``OSError``) into the format's own error naming the file and the dataset. Each format
passes its exception class (``StoreError``, ``EstimatesError``, ``DataError``,
``RemovalError``), so callers catch one type per format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import h5py
import numpy as np

from longtail.store.io import atomic_path

COMPLETE = "complete"  # root attribute written last: the file was written to the end
CHUNK_BYTES = 1 << 20  # default chunk: whole rows, about 1 MiB
# Attributes stored as JSON text (dicts and lists are always written as JSON).
JSON_ATTRS = ("study_config",)


@contextmanager
def create(path: str | os.PathLike) -> Iterator[h5py.File]:
    """An HDF5 file open for writing at a temporary sibling of ``path``; when the body
    finishes, the ``complete`` attribute is written last and the file renamed onto ``path``.
    An exception in the body leaves nothing behind."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        yield h5
        h5.attrs[COMPLETE] = True


def row_chunks(shape: Sequence[int], itemsize: int, target: int = CHUNK_BYTES
               ) -> tuple[int, ...] | bool:
    """Chunks of whole rows (every axis but the first complete), about ``target`` bytes each,
    so blocks of rows are read without reshuffling; ``True`` (h5py's guess) for an empty
    array or a row larger than ``target``."""
    shape = tuple(int(s) for s in shape)
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * itemsize
    if not all(shape) or row_bytes > target:
        return True
    return (max(1, min(shape[0], target // max(row_bytes, 1))), *shape[1:])


def create_dataset(h5: h5py.Group, name: str, data: Any = None, *,
                   shape: Sequence[int] | None = None, dtype: Any = None,
                   chunks: Sequence[int] | None = None, compression: str | None = None,
                   compression_opts: int | None = None, shuffle: bool = False) -> h5py.Dataset:
    """Dataset ``name`` with a Fletcher-32 checksum on every chunk, chunked along the first
    axis (:func:`row_chunks`) unless ``chunks`` is given. Datasets must be arrays (a scalar
    cannot be chunked, so cannot be checksummed); strings go through :func:`strings`."""
    if data is not None:
        data = np.asarray(data, dtype=dtype)
        shape, dtype = data.shape, data.dtype
    if not shape:
        raise ValueError(f"dataset '{name}': a scalar cannot carry a checksum; store an array")
    if h5py.check_vlen_dtype(np.dtype(dtype)) is not None:
        raise ValueError(f"dataset '{name}': variable-length data cannot carry a checksum; "
                         f"use longtail.store.h5.strings")
    if chunks is None or not all(shape):
        chunks = row_chunks(shape, np.dtype(dtype).itemsize)
    return h5.create_dataset(name, shape=shape, dtype=dtype, data=data, chunks=chunks,
                             compression=compression, compression_opts=compression_opts,
                             shuffle=shuffle, fletcher32=True)


def strings(values: Sequence[str]) -> np.ndarray:
    """Fixed-length UTF-8 strings (HDF5 checksums fixed-length data only); read them back
    with :func:`read_strings`."""
    encoded = [str(value).encode() for value in values]
    length = max([1, *map(len, encoded)])
    return np.array(encoded, dtype=h5py.string_dtype("utf-8", length))


def write_attrs(h5: h5py.Group, attrs: Mapping[str, Any]) -> None:
    """Root (or group) attributes; dicts and lists are stored as JSON text."""
    for key, value in attrs.items():
        h5.attrs[key] = json.dumps(value) if isinstance(value, dict | list) else value


def read_attrs(h5: h5py.Group, error: type[Exception] = ValueError,
               json_keys: Sequence[str] = JSON_ATTRS) -> dict[str, Any]:
    """Attributes as Python values; those in ``json_keys`` parsed from JSON (``error``
    naming the file if one is not JSON)."""
    out: dict[str, Any] = {}
    for key, value in h5.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, np.generic):
            value = value.item()
        if key in json_keys and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as err:
                raise error(f"{h5.file.filename}: attribute '{key}' is not JSON ({err}); the "
                            f"file is corrupt") from err
        out[key] = value
    return out


def is_complete(h5: h5py.File) -> bool:
    """Whether the file carries the ``complete`` marker its writer sets last."""
    return bool(h5.attrs.get(COMPLETE, False))


def check_complete(h5: h5py.File, path: str | os.PathLike, error: type[Exception],
                   what: str = "HDF5 file") -> None:
    """Raise ``error`` naming ``path`` unless the file carries the ``complete`` marker."""
    if not is_complete(h5):
        raise error(f"{path}: {what} is incomplete (no 'complete' attribute: its writer was "
                    f"interrupted, or an older version wrote it); delete it and rebuild it")


def open_file(path: str | os.PathLike, error: type[Exception], what: str = "HDF5 file", *,
              complete: bool = True) -> h5py.File:
    """``path`` open read-only; ``error`` naming it if it is not a readable HDF5 file or
    (with ``complete``) lacks the ``complete`` marker."""
    try:
        h5 = h5py.File(path, "r")
    except (OSError, ValueError) as err:
        raise error(f"{path}: not a readable {what} ({err})") from err
    if complete:
        try:
            check_complete(h5, path, error, what)
        except BaseException:
            h5.close()
            raise
    return h5


def read(h5: h5py.Group, name: str, path: str | os.PathLike, error: type[Exception],
         rows: Any = slice(None)) -> np.ndarray:
    """Dataset ``name`` (rows ``rows``); ``error`` naming the file and the dataset if it is
    missing or does not read back (a Fletcher-32 mismatch: a changed byte)."""
    try:
        dataset = h5[name]
    except KeyError as err:
        raise error(f"{path}: missing dataset '{_full_name(h5, name)}'") from err
    try:
        return dataset[rows]
    except (OSError, ValueError) as err:
        raise error(f"{path}: cannot read '{dataset.name.lstrip('/')}' ({err}); the file is "
                    f"corrupt") from err


def read_strings(h5: h5py.Group, name: str, path: str | os.PathLike,
                 error: type[Exception]) -> list[str]:
    """A dataset of strings (fixed-length or, in older files, variable-length) as ``str``."""
    if name not in h5:
        raise error(f"{path}: missing dataset '{_full_name(h5, name)}'")
    try:
        return [str(value) for value in h5[name].asstr()[()]]
    except (OSError, ValueError) as err:
        raise error(f"{path}: cannot read '{_full_name(h5, name)}' ({err}); the file is "
                    f"corrupt") from err


def _full_name(h5: h5py.Group, name: str) -> str:
    return f"{h5.name.rstrip('/')}/{name}".lstrip("/")
