"""ImageNet through torchvision's ILSVRC2012 parser, on fabricated devkit/train/val archives."""

from __future__ import annotations

import tarfile

import fabricate as fab
import numpy as np
import pytest

from longtail.data import DataError, read_cache
from longtail.data.build import build_cache

SIZE = 8


@pytest.fixture
def archives(tmp_path):
    return fab.imagenet_archives(tmp_path / "ilsvrc")


def snapshot(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def test_imagenet_cache(tmp_path, archives):
    before = snapshot(archives.folder)
    build_cache("imagenet", tmp_path / "imagenet.h5", download_dir=tmp_path / "dl",
                imagenet_root=archives.folder, image_size=SIZE, checksums=archives.checksums)
    cache = read_cache(tmp_path / "imagenet.h5")
    assert cache.train_images.shape == (len(archives.train_labels), SIZE, SIZE, 3)
    assert cache.test_images.shape == (len(archives.test_labels), SIZE, SIZE, 3)
    assert cache.train_images.dtype == np.uint8
    assert cache.classes == archives.classes
    np.testing.assert_array_equal(cache.train_labels, archives.train_labels)
    np.testing.assert_array_equal(cache.test_labels, archives.test_labels)
    np.testing.assert_array_equal(cache.test_index, np.arange(len(archives.test_labels)))
    # solid-colour JPEGs stay (within JPEG error) one colour after resize + centre crop
    for images, colors in ((cache.train_images, archives.train_images),
                           (cache.test_images, archives.test_images)):
        assert np.abs(images.astype(int) - colors[:, None, None, :]).max() <= 4
    assert cache.attrs["image_size"] == SIZE
    assert snapshot(archives.folder) == before, "imagenet_root is only read"
    assert [p.name for p in (tmp_path / "dl").iterdir()] == [], "extracted files are removed"


def test_imagenet_checksum_mismatch(tmp_path, archives):
    wrong = {**archives.checksums, fab.TRAIN_TAR: "f" * 32}
    with pytest.raises(DataError, match=fab.TRAIN_TAR):
        build_cache("imagenet", tmp_path / "imagenet.h5", download_dir=tmp_path / "dl",
                    imagenet_root=archives.folder, image_size=SIZE, checksums=wrong)
    assert not (tmp_path / "imagenet.h5").exists()
    assert [p.name for p in (tmp_path / "dl").iterdir()] == []


def test_imagenet_truncated_val_archive(tmp_path, archives):
    sums = {**archives.checksums, fab.VAL_TAR: fab.truncate(archives.folder / fab.VAL_TAR)}
    with pytest.raises(DataError, match=fab.VAL_TAR):
        build_cache("imagenet", tmp_path / "imagenet.h5", download_dir=tmp_path / "dl",
                    imagenet_root=archives.folder, image_size=SIZE, checksums=sums)
    assert not (tmp_path / "imagenet.h5").exists()
    assert [p.name for p in (tmp_path / "dl").iterdir()] == []


def test_imagenet_escaping_member_in_class_tar(tmp_path):
    escape = tarfile.TarInfo("../../../../escaped.JPEG")
    escape.size = 1
    made = fab.imagenet_archives(tmp_path / "ilsvrc", inner_extra=escape)
    with pytest.raises(DataError, match="escaped.JPEG"):
        build_cache("imagenet", tmp_path / "imagenet.h5", download_dir=tmp_path / "dl",
                    imagenet_root=made.folder, image_size=SIZE, checksums=made.checksums)
    assert not list(tmp_path.rglob("escaped.JPEG"))
    assert not (tmp_path / "imagenet.h5").exists()


def test_imagenet_without_archives_says_where_to_put_them(tmp_path):
    with pytest.raises(DataError, match="imagenet_root") as err:
        build_cache("imagenet", tmp_path / "imagenet.h5", download_dir=tmp_path / "dl",
                    imagenet_root=tmp_path / "nowhere")
    assert fab.DEVKIT in str(err.value) and str(tmp_path / "nowhere") in str(err.value)


def test_imagenet_val_archive_missing_images(tmp_path):
    made = fab.imagenet_archives(tmp_path / "ilsvrc", val_missing=2)
    with pytest.raises(DataError, match="4 validation images, but the devkit's ground truth "
                                        "lists 6"):
        build_cache("imagenet", tmp_path / "imagenet.h5", download_dir=tmp_path / "dl",
                    imagenet_root=made.folder, image_size=SIZE, checksums=made.checksums)
    assert not (tmp_path / "imagenet.h5").exists()
