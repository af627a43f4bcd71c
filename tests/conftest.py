"""Shared fixtures: small synthetic image datasets with known structure."""

from __future__ import annotations

import numpy as np
import pytest

from longtail.training import TrainingData


def blobs(n: int, n_test: int, classes: int = 4, side: int = 6, channels: int = 1,
          seed: int = 0) -> TrainingData:
    """Class-dependent uint8 images plus noise: learnable, but not perfectly."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(40, 215, size=(classes, side, side, channels))

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, classes, size=count)
        x = prototypes[y] + rng.normal(0, 60, size=(count, side, side, channels))
        return np.clip(x, 0, 255).astype(np.uint8), y

    x_train, y_train = draw(n)
    x_test, y_test = draw(n_test)
    return TrainingData.from_arrays(x_train, y_train, x_test, y_test, classes)


@pytest.fixture
def tiny_blobs() -> TrainingData:
    return blobs(120, 60)
