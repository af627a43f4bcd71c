"""Where each supported dataset comes from: its torchvision class (named in
:mod:`longtail.data.datasets`), its original files and their known checksums."""

from __future__ import annotations

from pathlib import Path

import torchvision.datasets
from torchvision.datasets import MNIST
from torchvision.datasets import imagenet as tv_imagenet

from .datasets import DATASETS, REGISTRY
from .errors import DataError

# The torchvision class of each dataset the registry names (ImageNet's archives are handled
# through torchvision's imagenet module).
TORCHVISION_CLASSES = {name: getattr(torchvision.datasets, dataset.source)
                       for name, dataset in REGISTRY.items() if name != "imagenet"}

# Directories that distributions install original dataset files into, searched after the user's.
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}

# Debian's dataset-fashion-mnist re-wrote the gzip headers (file name dropped, mtime set to its
# build date) but kept upstream's deflate streams. With the upstream header restored (name and
# these mtimes, XFL 0, OS 3) the files hash to torchvision's md5s again.
UPSTREAM_GZIP_MTIME: dict[str, dict[str, int]] = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": 1504176606,
        "train-labels-idx1-ubyte.gz": 1504176606,
        "t10k-images-idx3-ubyte.gz": 1504176627,
        "t10k-labels-idx1-ubyte.gz": 1504176627,
    },
}


def check_dataset(dataset: str) -> None:
    """Raise DataError unless ``dataset`` is supported."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; supported: {', '.join(DATASETS)}")


def archive_names(dataset: str) -> list[str]:
    """The original files a dataset is distributed as (what is searched for and downloaded)."""
    check_dataset(dataset)
    if dataset == "imagenet":
        return [name for name, _ in tv_imagenet.ARCHIVE_META.values()]
    cls = TORCHVISION_CLASSES[dataset]
    if issubclass(cls, MNIST):
        return [name for name, _ in cls.resources]
    return [cls.filename]


def known_checksums(dataset: str) -> dict[str, str]:
    """torchvision's md5 of every original file and, for CIFAR, of every extracted batch file."""
    check_dataset(dataset)
    if dataset == "imagenet":
        return dict(tv_imagenet.ARCHIVE_META.values())
    cls = TORCHVISION_CLASSES[dataset]
    if issubclass(cls, MNIST):
        return dict(cls.resources)
    members = {name: md5 for name, md5 in cls.train_list + cls.test_list}
    return {cls.filename: cls.tgz_md5, **members, cls.meta["filename"]: cls.meta["md5"]}


def default_urls(dataset: str, filename: str) -> list[str]:
    """torchvision's own download locations for one original file (read from its classes)."""
    cls = TORCHVISION_CLASSES.get(dataset)
    if cls is None:
        return []
    if issubclass(cls, MNIST):
        return [join_url(mirror, filename) for mirror in cls.mirrors]
    return [cls.url]


def join_url(base: str, filename: str) -> str:
    """``base`` (a mirror's base URL) joined with a file name."""
    return f"{base.rstrip('/')}/{filename}"
