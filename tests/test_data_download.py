"""build_cache over the real download path: fabricated originals served from a loopback mirror."""

from __future__ import annotations

from pathlib import Path

import fabricate as fab
import numpy as np
import pytest
import torchvision

from longtail.data import DataError, read_cache
from longtail.data import sources as data_sources
from longtail.data.build import build_cache
from longtail.data.catalog import SYSTEM_DIRS
from longtail.data.sources import candidate_urls
from longtail.data.verify import verify_file

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    """Keep fabricated-data tests off the internet and away from system dataset folders."""
    monkeypatch.setattr(data_sources, "default_urls", lambda dataset, name: [])
    monkeypatch.setattr(data_sources, "SYSTEM_DIRS", {})


def fabricate(dataset: str, folder: Path) -> fab.Fabricated:
    if dataset in ("mnist", "fashion-mnist"):
        return fab.mnist_files(folder)
    return fab.cifar_archive(folder, dataset)


def leftovers(download_dir: Path) -> list[Path]:
    """Staging or extraction folders a failed or finished build must not leave behind."""
    return [p for p in download_dir.rglob("*") if p.name.endswith((".partial", ".extract"))]


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_download_builds_cache(tmp_path, dataset):
    made = fabricate(dataset, tmp_path / "served")
    with fab.serve_directory(made.folder) as mirror:
        build_cache(dataset, tmp_path / "cache.h5", download_dir=tmp_path / "dl",
                    mirrors=[mirror.url], checksums=made.checksums)
    cache = read_cache(tmp_path / "cache.h5")
    assert cache.dataset == dataset
    assert cache.train_images.dtype == np.uint8 and cache.train_labels.dtype == np.int64
    np.testing.assert_array_equal(cache.train_images, made.train_images)
    np.testing.assert_array_equal(cache.train_labels, made.train_labels)
    np.testing.assert_array_equal(cache.test_images, made.test_images)
    np.testing.assert_array_equal(cache.test_labels, made.test_labels)
    np.testing.assert_array_equal(cache.train_index, np.arange(len(made.train_labels)))
    np.testing.assert_array_equal(cache.test_index, np.arange(len(made.test_labels)))
    assert len(cache.classes) == (100 if dataset == "cifar100" else 10)
    if made.classes:
        assert cache.classes == made.classes
    served = {p.name for p in made.files}
    assert {path.lstrip("/") for path in mirror.requests} == served
    kept = {p.name for p in (tmp_path / "dl" / dataset).iterdir()}
    assert kept == served, "verified downloads are kept for the next build"
    assert all(src["verified"].startswith("md5") for src in cache.attrs["sources"].values())
    assert leftovers(tmp_path / "dl") == []


def test_later_build_reuses_downloads_without_network(tmp_path):
    made = fab.mnist_files(tmp_path / "served")
    with fab.serve_directory(made.folder) as mirror:
        build_cache("mnist", tmp_path / "a.h5", download_dir=tmp_path / "dl",
                    mirrors=[mirror.url], checksums=made.checksums)
    build_cache("mnist", tmp_path / "b.h5", download_dir=tmp_path / "dl",
                mirrors=[fab.refused_url()], checksums=made.checksums)
    assert read_cache(tmp_path / "b.h5").content_hash == read_cache(tmp_path / "a.h5").content_hash


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_checksum_mismatch_leaves_nothing(tmp_path, dataset):
    made = fabricate(dataset, tmp_path / "served")
    victim = made.files[0].name
    wrong = {**made.checksums, victim: "0" * 32}
    with fab.serve_directory(made.folder) as mirror, pytest.raises(DataError) as err:
        build_cache(dataset, tmp_path / "cache.h5", download_dir=tmp_path / "dl",
                    mirrors=[mirror.url], checksums=wrong)
    message = str(err.value)
    assert dataset in message and victim in message
    assert "checksum mismatch" in message and f"expected {'0' * 32}" in message
    assert not (tmp_path / "cache.h5").exists()
    assert not (tmp_path / "dl" / dataset / victim).exists()
    assert leftovers(tmp_path / "dl") == []


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_truncated_archive_leaves_nothing(tmp_path, dataset):
    """Even when its checksum is (wrongly) vouched for, a truncated archive never makes a cache."""
    made = fabricate(dataset, tmp_path / "served")
    victim = made.files[0]
    sums = {**made.checksums, victim.name: fab.truncate(victim)}
    with fab.serve_directory(made.folder) as mirror, pytest.raises(DataError) as err:
        build_cache(dataset, tmp_path / "cache.h5", download_dir=tmp_path / "dl",
                    mirrors=[mirror.url], checksums=sums)
    assert victim.name in str(err.value)
    assert not (tmp_path / "cache.h5").exists()
    assert leftovers(tmp_path / "dl") == []
    assert not [p for p in tmp_path.rglob("*-ubyte") if p.is_file()], "no decompressed junk"
    assert not list(tmp_path.rglob("*batch*")), "no extracted junk"


def test_truncated_download_fails_real_checksum(tmp_path):
    made = fab.mnist_files(tmp_path / "served")
    fab.truncate(made.folder / "t10k-labels-idx1-ubyte.gz")
    with fab.serve_directory(made.folder) as mirror, pytest.raises(DataError, match="checksum"):
        build_cache("mnist", tmp_path / "cache.h5", download_dir=tmp_path / "dl",
                    mirrors=[mirror.url], checksums=made.checksums)
    assert not (tmp_path / "cache.h5").exists()


def test_nothing_offline_and_network_refused_lists_every_place(tmp_path):
    made = fab.mnist_files(tmp_path / "elsewhere")
    empty, other = tmp_path / "offline_a", tmp_path / "offline_b"
    empty.mkdir()
    other.mkdir()
    (other / "train-images-idx3-ubyte.gz").write_bytes(b"not the real file")
    mirror = fab.refused_url()
    with pytest.raises(DataError) as err:
        build_cache("mnist", tmp_path / "cache.h5", download_dir=tmp_path / "dl",
                    offline_dirs=[empty, other], mirrors=[mirror], checksums=made.checksums)
    message = str(err.value)
    assert "'mnist'" in message
    for place in (empty, other, tmp_path / "dl" / "mnist"):
        assert str(place) in message
    assert f"{other / 'train-images-idx3-ubyte.gz'}: md5" in message
    for name in fab.MNIST_NAMES:
        assert f"{mirror}{name}: " in message
    assert "Connection refused" in message
    assert not (tmp_path / "cache.h5").exists()


def test_offline_dir_is_used_before_network(tmp_path):
    made = fab.mnist_files(tmp_path / "offline" / "MNIST" / "raw")  # torchvision's own layout
    served = fab.mnist_files(tmp_path / "served", seed=1)
    with fab.serve_directory(served.folder) as mirror:
        build_cache("mnist", tmp_path / "cache.h5", download_dir=tmp_path / "dl",
                    offline_dirs=[tmp_path / "offline"], mirrors=[mirror.url],
                    checksums=made.checksums)
    assert mirror.requests == []
    cache = read_cache(tmp_path / "cache.h5")
    np.testing.assert_array_equal(cache.train_images, made.train_images)
    assert {Path(s["path"]).parent for s in cache.attrs["sources"].values()} == {made.folder}


def test_corrupt_offline_copy_falls_back_to_download(tmp_path):
    made = fab.mnist_files(tmp_path / "served")
    offline = fab.mnist_files(tmp_path / "offline")
    (offline.folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"corrupt")
    with fab.serve_directory(made.folder) as mirror:
        build_cache("mnist", tmp_path / "cache.h5", download_dir=tmp_path / "dl",
                    offline_dirs=[offline.folder], mirrors=[mirror.url], checksums=made.checksums)
    assert [p.lstrip("/") for p in mirror.requests][-1] == "t10k-images-idx3-ubyte.gz"
    assert set(p.lstrip("/") for p in mirror.requests) == {"t10k-images-idx3-ubyte.gz"}


def test_downloads_disabled(tmp_path):
    made = fab.mnist_files(tmp_path / "served")
    with fab.serve_directory(made.folder) as mirror, pytest.raises(DataError, match="disabled"):
        build_cache("mnist", tmp_path / "cache.h5", download_dir=tmp_path / "dl",
                    mirrors=[mirror.url], checksums=made.checksums, allow_download=False)
    assert mirror.requests == []


def test_unknown_dataset(tmp_path):
    with pytest.raises(DataError, match="svhn"):
        build_cache("svhn", tmp_path / "cache.h5", download_dir=tmp_path)


def test_configured_mirrors_come_before_torchvision_urls(monkeypatch):
    monkeypatch.undo()  # the real torchvision defaults
    urls = candidate_urls("mnist", "t10k-labels-idx1-ubyte.gz", ["http://m1/a", "http://m2/"])
    assert urls[:2] == ["http://m1/a/t10k-labels-idx1-ubyte.gz",
                        "http://m2/t10k-labels-idx1-ubyte.gz"]
    assert urls[2:] == [f"{m}t10k-labels-idx1-ubyte.gz"
                        for m in torchvision.datasets.MNIST.mirrors]
    cifar = candidate_urls("cifar10", "cifar-10-python.tar.gz", ["http://m1/"])
    assert cifar == ["http://m1/cifar-10-python.tar.gz",
                     "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]


# ---------------------------------------------------------------- Debian's Fashion-MNIST

needs_debian = pytest.mark.skipif(not DEBIAN.is_dir(),
                                  reason=f"{DEBIAN} missing (Debian package dataset-fashion-mnist)")


@needs_debian
def test_debian_files_verify_against_torchvision_md5(tmp_path):
    from longtail.data.catalog import UPSTREAM_GZIP_MTIME, known_checksums

    sums, mtimes = known_checksums("fashion-mnist"), UPSTREAM_GZIP_MTIME["fashion-mnist"]
    for name, md5 in sums.items():
        assert verify_file(DEBIAN / name, md5, mtimes[name]) is not None
    damaged = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = bytearray((DEBIAN / damaged.name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert verify_file(damaged, sums[damaged.name], mtimes[damaged.name]) is None


@needs_debian
def test_debian_fashion_mnist_needs_no_network(tmp_path, monkeypatch):
    monkeypatch.setattr(data_sources, "SYSTEM_DIRS", SYSTEM_DIRS)
    with fab.serve_directory(tmp_path) as mirror:
        build_cache("fashion-mnist", tmp_path / "fm.h5", download_dir=tmp_path / "dl",
                    mirrors=[mirror.url], allow_download=True)
    assert mirror.requests == []
    cache = read_cache(tmp_path / "fm.h5")
    assert cache.train_images.shape == (60000, 28, 28, 1)
    assert cache.test_images.shape == (10000, 28, 28, 1)
    assert np.bincount(cache.train_labels).tolist() == [6000] * 10
    assert all(Path(s["path"]).parent == DEBIAN for s in cache.attrs["sources"].values())
