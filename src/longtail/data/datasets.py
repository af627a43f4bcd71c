"""The built-in datasets and their facts, in one place and torch-free: the config's checks, the
data layer, the workflow's resource model, the reports and the benchmarks read them here.

Class names are not listed: each cache records its dataset's (``classes``), read from the
torchvision class named by ``source`` when the cache is built.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    """One built-in dataset."""

    name: str  # as the config names it (studies.<name>.dataset)
    title: str  # as figures, tables and captions print it
    shape: tuple[int, int, int] | None  # (height, width, channels); None: data.image_size square
    classes: int
    n_train: int  # examples of the original train split
    n_test: int  # examples of the original test split (ImageNet: its validation set)
    source: str  # the torchvision.datasets class that reads the original files

    def image_shape(self, image_size: int) -> tuple[int, int, int]:
        """(height, width, channels) of one image in the cache; ``image_size`` is
        ``data.image_size``, the side ImageNet is resized and cropped to."""
        return self.shape if self.shape is not None else (image_size, image_size, 3)


REGISTRY: dict[str, Dataset] = {dataset.name: dataset for dataset in (
    Dataset("mnist", "MNIST", (28, 28, 1), 10, 60000, 10000, "MNIST"),
    Dataset("fashion-mnist", "Fashion-MNIST", (28, 28, 1), 10, 60000, 10000, "FashionMNIST"),
    Dataset("cifar10", "CIFAR-10", (32, 32, 3), 10, 50000, 10000, "CIFAR10"),
    Dataset("cifar100", "CIFAR-100", (32, 32, 3), 100, 50000, 10000, "CIFAR100"),
    Dataset("imagenet", "ImageNet", None, 1000, 1281167, 50000, "ImageNet"),
)}
DATASETS = tuple(REGISTRY)  # the built-in datasets' names
# (train, test) sizes of the original splits; n_train / n_test may not exceed them.
SPLIT_SIZES: dict[str, tuple[int, int]] = {
    name: (dataset.n_train, dataset.n_test) for name, dataset in REGISTRY.items()}
