"""Tar members are checked before anything is extracted: nothing lands outside the target."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import fabricate as fab
import pytest

from longtail.data import DataError
from longtail.data import sources as data_sources
from longtail.data.archives import check_tar, extract_tar
from longtail.data.build import build_cache


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "",
           size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, size
    return info


def write_tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


BAD = {
    "parent": member("../evil.txt", size=1),
    "absolute": member("/tmp/absolute-evil.txt", size=1),
    "inner-dotdot": member("ok/../../evil.txt", size=1),
    "symlink-out": member("link", tarfile.SYMTYPE, "../../outside"),
    "symlink-absolute": member("link", tarfile.SYMTYPE, "/etc/passwd"),
    "hardlink-out": member("hard", tarfile.LNKTYPE, "../outside"),
    "symlink-up-within": member("d/up", tarfile.SYMTYPE, "../fine.txt"),
    "device": member("dev", tarfile.CHRTYPE),
    "fifo": member("fifo", tarfile.FIFOTYPE),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_escaping_member_is_refused(tmp_path, case):
    archive = write_tar(tmp_path / "a.tar", [member("fine.txt", size=2), BAD[case]])
    dest = tmp_path / "out" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(DataError, match="refusing to extract") as err:
        extract_tar(archive, dest)
    assert BAD[case].name in str(err.value) and str(archive) in str(err.value)
    assert list(dest.iterdir()) == [], "nothing is extracted when any member is bad"
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()


def test_links_inside_the_target_are_fine(tmp_path):
    archive = write_tar(tmp_path / "a.tar", [
        member("d", tarfile.DIRTYPE), member("d/file", size=3),
        member("d/sym", tarfile.SYMTYPE, "file"), member("hard", tarfile.LNKTYPE, "d/file")])
    extract_tar(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "d" / "sym").read_bytes() == b"xxx"
    assert (tmp_path / "dest" / "hard").read_bytes() == b"xxx"


def test_nested_tars_are_checked(tmp_path):
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tar:
        tar.addfile(member("../../../escape.JPEG", size=1), io.BytesIO(b"x"))
    outer = tmp_path / "train.tar"
    with tarfile.open(outer, "w") as tar:
        info = member("n01.tar", size=len(inner.getvalue()))
        tar.addfile(info, io.BytesIO(inner.getvalue()))
    assert check_tar(outer) == ["n01.tar"]
    where = re.escape("train.tar/n01.tar: member '../../../escape.JPEG'")
    with pytest.raises(DataError, match=where):
        check_tar(outer, nested=True)


def test_truncated_tar_is_refused(tmp_path):
    archive = write_tar(tmp_path / "a.tar", [member(f"f{i}", size=5000) for i in range(4)])
    fab.truncate(archive, keep=0.5)
    with pytest.raises(DataError, match="truncated or corrupt"):
        extract_tar(archive, tmp_path / "dest")


def test_cifar_archive_with_escaping_member_builds_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(data_sources, "default_urls", lambda dataset, name: [])
    made = fab.cifar_archive(tmp_path / "offline",
                             extra_member=member("../../escaped.txt", size=4))
    with pytest.raises(DataError, match="escaped.txt"):
        build_cache("cifar10", tmp_path / "cache.h5", download_dir=tmp_path / "dl",
                    offline_dirs=[made.folder], checksums=made.checksums)
    assert not (tmp_path / "cache.h5").exists()
    assert not list(tmp_path.rglob("escaped.txt"))
    assert [p.name for p in (tmp_path / "dl").iterdir()] == []


def test_tar_cut_at_a_member_boundary_is_refused(tmp_path):
    """tarfile alone reads such a file as a complete, shorter archive."""
    archive = write_tar(tmp_path / "a.tar", [member(f"f{i}", size=512) for i in range(4)])
    archive.write_bytes(archive.read_bytes()[: 2 * 1024])
    with tarfile.open(archive) as tar:
        assert len(tar.getmembers()) == 2
    with pytest.raises(DataError, match="end-of-archive"):
        check_tar(archive)
