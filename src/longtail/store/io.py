"""The one home of the project's atomic file writers: every file is written into a temporary
sibling that is renamed onto the target only once it is complete (:func:`atomic_path`), so a
killed writer never leaves a file that looks complete. HDF5 files go through
:func:`longtail.store.h5.create`, which uses :func:`atomic_path` too; CSV, JSON, text and raw bytes
through the four writers below. Imports nothing beyond the standard library (a table is
written through its own ``to_csv``), so the command line's light subcommands may use it.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Errors only a write gives (disk full, quota exceeded, read-only file system).
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only on success.

    A killed writer leaves at most a ``*.tmp`` file, never a file that looks complete. A full
    or read-only file system is reported as ``OSError`` naming ``path`` (HDF5's own message,
    which names the temporary file, is chained to it). Used for every file this project
    writes, HDF5 or not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.errno in _WRITE_ERRNOS and err.filename in (None, str(tmp)):
            raise OSError(err.errno, os.strerror(err.errno), str(path)) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (indented by ``indent``) and a final newline, atomically."""
    write_text(path, json.dumps(obj, indent=indent) + "\n")


def write_csv(path: str | os.PathLike, frame: Any, **to_csv: Any) -> None:
    """Write a pandas ``frame`` as CSV without its index, atomically; ``to_csv`` (e.g.
    ``float_format``, ``columns``) goes to :meth:`pandas.DataFrame.to_csv`."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **to_csv)
