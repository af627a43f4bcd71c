"""Reading verified original files into uint8 NHWC arrays with torchvision's dataset classes."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import MNIST, ImageNet
from torchvision.datasets import imagenet as tv_imagenet
from torchvision.datasets.utils import extract_archive

from .archives import check_tar, extract_tar
from .cache import Converted, SplitSource
from .catalog import TORCHVISION_CLASSES
from .errors import DataError


def _in_memory(images: np.ndarray, labels: np.ndarray) -> SplitSource:
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    labels = np.asarray(labels, dtype=np.int64)
    return SplitSource(len(images), images.shape[1:], np.arange(len(images), dtype=np.int64),
                       [(images, labels)])


def _mnist(dataset: str, files: Mapping[str, Path], workdir: Path) -> Converted:
    cls = TORCHVISION_CLASSES[dataset]
    raw = workdir / cls.__name__ / "raw"
    raw.mkdir(parents=True)
    for path in files.values():
        try:
            extract_archive(str(path), str(raw))
        except (EOFError, OSError, zlib.error) as err:
            raise DataError(f"{path}: cannot decompress ({err}); the file is truncated or "
                            "corrupt") from err
    train, test = cls(root=str(workdir), train=True), cls(root=str(workdir), train=False)
    return Converted(_in_memory(train.data.numpy(), train.targets.numpy()),
                     _in_memory(test.data.numpy(), test.targets.numpy()), list(cls.classes))


def _cifar(dataset: str, files: Mapping[str, Path], workdir: Path,
           checksums: Mapping[str, str]) -> Converted:
    base = TORCHVISION_CLASSES[dataset]
    extract_tar(files[base.filename], workdir)
    cls = type(base.__name__, (base,), {
        "train_list": [[name, checksums[name]] for name, _ in base.train_list],
        "test_list": [[name, checksums[name]] for name, _ in base.test_list],
        "meta": {**base.meta, "md5": checksums[base.meta["filename"]]},
    })
    train, test = cls(root=str(workdir), train=True), cls(root=str(workdir), train=False)
    return Converted(_in_memory(train.data, train.targets), _in_memory(test.data, test.targets),
                     list(train.classes))


@contextmanager
def _archive_checksums(checksums: Mapping[str, str]) -> Iterator[None]:
    """Make torchvision's ImageNet parser verify the archives against ``checksums``."""
    saved = dict(tv_imagenet.ARCHIVE_META)
    tv_imagenet.ARCHIVE_META.update({key: (name, checksums[name])
                                     for key, (name, _) in saved.items()})
    try:
        yield
    finally:
        tv_imagenet.ARCHIVE_META.clear()
        tv_imagenet.ARCHIVE_META.update(saved)


def _collate(batch: list) -> tuple[np.ndarray, np.ndarray]:
    images = np.stack([np.asarray(image.convert("RGB"), dtype=np.uint8) for image, _ in batch])
    return images, np.array([label for _, label in batch], dtype=np.int64)


def _image_batches(ds: ImageNet, batch_size: int = 256) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    workers = min(8, os.cpu_count() or 1) if len(ds) > 4 * batch_size else 0
    yield from DataLoader(ds, batch_size=batch_size, num_workers=workers, collate_fn=_collate)


def _imagenet(files: Mapping[str, Path], workdir: Path, checksums: Mapping[str, str],
              image_size: int) -> Converted:
    root = workdir / "imagenet"
    root.mkdir()
    for name, path in files.items():
        (root / name).symlink_to(Path(path).resolve())
    (devkit, _), (train_tar, _), (val_tar, _) = (tv_imagenet.ARCHIVE_META[key]
                                                 for key in ("devkit", "train", "val"))
    check_tar(root / devkit)
    check_tar(root / train_tar, nested=True)
    check_tar(root / val_tar)
    resize = transforms.Compose([transforms.Resize(image_size), transforms.CenterCrop(image_size)])
    try:
        with _archive_checksums(checksums):
            train = ImageNet(str(root), split="train", transform=resize)
            val = ImageNet(str(root), split="val", transform=resize)
    except RuntimeError as err:  # how torchvision reports a missing or corrupt archive
        archives = ", ".join(str(path) for path in files.values())
        raise DataError(f"imagenet: torchvision's ImageNet parser refused {archives} "
                        f"(linked into {root}): {err}") from err
    if val.wnids != train.wnids:
        raise DataError(f"{files[val_tar]}: validation classes differ from the train classes")
    listed = len(tv_imagenet.load_meta_file(str(root))[1])
    if len(val) != listed:  # torchvision pairs images with labels by zip(), silently
        raise DataError(f"{files[val_tar]}: {len(val)} validation images, but the devkit's "
                        f"ground truth lists {listed}")
    # Original order of the validation split: by file name, as in the devkit's ground truth.
    val.samples = sorted(val.samples, key=lambda sample: os.path.basename(sample[0]))
    val.imgs, val.targets = val.samples, [label for _, label in val.samples]
    classes = [f"{wnid}: {', '.join(names)}" for wnid, names in zip(train.wnids, train.classes,
                                                                      strict=True)]
    shape = (image_size, image_size, 3)
    return Converted(*(SplitSource(len(ds), shape, np.arange(len(ds), dtype=np.int64),
                                   _image_batches(ds)) for ds in (train, val)), classes)


def convert(dataset: str, files: Mapping[str, Path], workdir: Path, checksums: Mapping[str, str],
            image_size: int) -> Converted:
    """Open verified original files as arrays (ImageNet: lazily, batch by batch).

    ``workdir`` receives the extracted files and must outlive the returned batches.
    """
    if dataset == "imagenet":
        return _imagenet(files, workdir, checksums, image_size)
    if issubclass(TORCHVISION_CLASSES[dataset], MNIST):
        return _mnist(dataset, files, workdir)
    return _cifar(dataset, files, workdir, checksums)
