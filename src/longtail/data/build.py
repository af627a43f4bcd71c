"""Building a dataset cache from original files: find, verify, convert (needs torchvision)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torchvision

from longtail.config.schema import schema_default

from .cache import write_cache
from .catalog import check_dataset, known_checksums
from .convert import convert
from .errors import DataError
from .sources import locate

DEFAULT_IMAGE_SIZE = schema_default("data", "image_size")  # ImageNet's side in the cache


def build_cache(dataset: str, out_path: str | os.PathLike, *, download_dir: str | os.PathLike,
                offline_dirs: Sequence[str | os.PathLike] = (), mirrors: Sequence[str] = (),
                imagenet_root: str | os.PathLike | None = None,
                image_size: int = DEFAULT_IMAGE_SIZE,
                allow_download: bool = True, checksums: Mapping[str, str] | None = None) -> None:
    """Find (offline first) or download the original files, verify and convert them to one cache.

    ``checksums`` overrides torchvision's md5 per file name (original files and, for CIFAR,
    the extracted batch files). Any failure raises DataError and leaves no ``out_path`` and no
    extracted files behind.
    """
    check_dataset(dataset)
    if dataset == "imagenet" and image_size < 1:
        raise DataError(f"image_size must be positive, got {image_size}")
    sums = {**known_checksums(dataset), **(checksums or {})}
    download_dir = Path(download_dir)
    found = locate(dataset, download_dir=download_dir, offline_dirs=[Path(d) for d in offline_dirs],
                   mirrors=mirrors, imagenet_root=Path(imagenet_root) if imagenet_root else None,
                   allow_download=allow_download, checksums=sums)
    sources = {name: {"path": str(path), "md5": sums[name], "verified": found.how[name]}
               for name, path in found.files.items()}
    attrs = {"sources": sources, "torchvision": torchvision.__version__,
             **({"image_size": image_size} if dataset == "imagenet" else {})}
    download_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{dataset}-", suffix=".extract", dir=download_dir))
    try:
        write_cache(out_path, dataset, convert(dataset, found.files, workdir, sums, image_size),
                    attrs)
    except DataError:
        raise
    except Exception as err:  # torchvision/PIL/gzip/pickle signal bad input in many ways
        names = ", ".join(str(path) for path in found.files.values())
        raise DataError(f"{dataset}: converting {names} failed: "
                        f"{type(err).__name__}: {err}") from err
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
