"""Own datasets (issue 14, item 1): an image folder or an .npz of arrays becomes a cache like
the built-in datasets', and whatever is wrong with it is refused naming the file or index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from longtail.data import DataError, read_cache
from longtail.data.custom import build_custom_cache
from longtail.workflow.checks import dataset_key, name_custom_datasets


def image_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog", "owl"), per_class: int = 4,
                 tests: int = 2, size: int = 10, mode: str = "RGB") -> Path:
    """Real PNG files in torchvision's ImageFolder layout, each class a different colour."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", tests)):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                base = np.full((size, size, 3), 40 + 80 * c, np.uint8)
                pixels = np.clip(base + rng.integers(0, 40, base.shape), 0, 255).astype(np.uint8)
                image = Image.fromarray(pixels)
                (image.convert("L") if mode == "L" else image).save(folder / f"{k:03d}.png")
    return root


def test_folder_cache(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "pets")
    build_custom_cache("folder-pets", {"kind": "folder", "root": str(root)}, tmp_path / "c.h5")
    cache = read_cache(tmp_path / "c.h5")
    assert cache.classes == ["cat", "dog", "owl"] and cache.dataset == "folder-pets"
    assert cache.train_images.shape == (12, 10, 10, 3) and cache.test_images.shape == (6, 10, 10, 3)
    np.testing.assert_array_equal(cache.train_labels, np.repeat([0, 1, 2], 4))
    with Image.open(root / "train" / "dog" / "001.png") as image:
        np.testing.assert_array_equal(cache.train_images[5], np.asarray(image))
    gray = image_folder(tmp_path / "gray", mode="L")
    build_custom_cache("g", {"kind": "folder", "root": str(gray)}, tmp_path / "g.h5")
    assert read_cache(tmp_path / "g.h5").train_images.shape[1:] == (10, 10, 1)


@pytest.mark.parametrize("damage, message", [
    (lambda r: (r / "train" / "dog" / "002.png").write_bytes(b"not a png"),
     r"train/dog/002.png: not a readable image"),
    (lambda r: [p.unlink() for p in (r / "train" / "owl").iterdir()],
     r"train/owl: class 'owl' has no images"),
    (lambda r: Image.new("RGB", (12, 10)).save(r / "test" / "cat" / "000.png"),
     r"test/cat/000.png: image is 12x10 pixels, but .* is 10x10"),
    (lambda r: (r / "test" / "bat").mkdir() or Image.new("RGB", (10, 10)).save(
        r / "test" / "bat" / "x.png"), r"class folders \['bat'\] are not in"),
])
def test_folder_refusals_name_the_file(tmp_path: Path, damage, message) -> None:
    root = image_folder(tmp_path / "pets")
    damage(root)
    with pytest.raises(DataError, match=message):
        build_custom_cache("f", {"kind": "folder", "root": str(root)}, tmp_path / "c.h5")
    assert not (tmp_path / "c.h5").exists()


def arrays(path: Path, **change: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    data = {"x_train": rng.integers(0, 255, (12, 8, 8), dtype=np.uint8),
            "y_train": np.repeat([0, 1, 2], 4), "x_test": rng.integers(0, 255, (6, 8, 8),
                                                                        dtype=np.uint8),
            "y_test": np.repeat([0, 1, 2], 2), "classes": np.array(["a", "b", "c"])}
    data.update(change)
    np.savez(path, **{k: v for k, v in data.items() if v is not None})
    return path


def test_arrays_cache(tmp_path: Path) -> None:
    path = arrays(tmp_path / "mine.npz")
    build_custom_cache("arrays-mine", {"kind": "arrays", "path": str(path)}, tmp_path / "c.h5")
    cache = read_cache(tmp_path / "c.h5")
    assert cache.classes == ["a", "b", "c"] and cache.train_images.shape == (12, 8, 8, 1)
    build_custom_cache("n", {"kind": "arrays", "path": str(arrays(tmp_path / "n.npz",
                                                                  classes=None))},
                       tmp_path / "n.h5")
    assert read_cache(tmp_path / "n.h5").classes == ["0", "1", "2"]


@pytest.mark.parametrize("change, message", [
    ({"y_train": np.array([0, 1, 2, 3] * 3)}, r"y_train\[3\] = 3 is outside 0..2"),
    ({"y_test": np.array([0, 1, 2, 0, 1])}, r"x_test has 6 images but y_test has 5 labels"),
    ({"x_test": np.zeros((6, 9, 8), np.uint8)}, r"x_train images are \(8, 8, 1\) but x_test"),
    ({"y_train": np.repeat([0, 2, 2], 4)}, r"classes without any training example: \['b'\]"),
    ({"x_train": np.full((12, 8, 8), 300)}, r"x_train must hold uint8 pixel values"),
    ({"y_test": None}, r"missing arrays \['y_test'\]"),
])
def test_arrays_refusals_name_the_index(tmp_path: Path, change, message) -> None:
    path = arrays(tmp_path / "mine.npz", **change)
    with pytest.raises(DataError, match=message):
        build_custom_cache("a", {"kind": "arrays", "path": str(path)}, tmp_path / "c.h5")


def test_own_datasets_get_stable_cache_names() -> None:
    spec = {"kind": "folder", "root": "data/My Pets"}
    key = dataset_key(spec)
    assert key.startswith("folder-my-pets-") and key == dataset_key(dict(reversed(spec.items())))
    assert dataset_key({"kind": "folder", "root": "other/My Pets"}) != key
    config = {"studies": {"a": {"dataset": spec}, "b": {"dataset": "mnist"}}}
    assert name_custom_datasets(config) == {key: spec}
    assert config["studies"]["a"]["dataset"] == key and config["studies"]["b"]["dataset"] == "mnist"
