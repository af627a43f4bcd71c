"""Tar member checks and extraction that never writes outside the target directory."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath

from .errors import DataError


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def check_member(member: tarfile.TarInfo, dest: Path, archive: Path) -> None:
    """Raise DataError unless extracting ``member`` into ``dest`` stays inside ``dest``."""
    dest = dest.resolve()
    name = PurePosixPath(member.name)
    problem = None
    if name.is_absolute() or ".." in name.parts:
        problem = "has an absolute or '..' path"
    elif not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        problem = "is a device, fifo or other special file"
    elif not _inside(Path(os.path.normpath(dest / name)), dest):
        problem = "would be written outside the target directory"
    elif member.issym() or member.islnk():
        link = PurePosixPath(member.linkname)
        base = dest / name.parent if member.issym() else dest
        if link.is_absolute() or not _inside(Path(os.path.normpath(base / link)), dest):
            problem = f"links to {member.linkname!r} outside the target directory"
    if problem:
        raise DataError(f"{archive}: member {member.name!r} {problem}; refusing to extract")


def _check_end(tar: tarfile.TarFile, label: Path) -> None:
    """Refuse a tar without its end-of-archive block: it was cut at a member boundary.

    tarfile treats such a file as complete and would silently extract fewer members.
    """
    tar.fileobj.seek(tar.offset)
    if tar.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
        raise DataError(f"{label}: no end-of-archive marker after the last member; the "
                        "archive is truncated")


def check_tar(archive: Path, dest: Path, *, nested: bool = False) -> list[str]:
    """Check every member of ``archive`` against ``dest``; return the member names.

    With ``nested`` the members that are themselves ``.tar`` files are checked too, against the
    folder named after them (how torchvision's ImageNet parser extracts the train archive).
    """
    try:
        with tarfile.open(archive) as tar:
            names = []
            for member in tar:
                check_member(member, dest, archive)
                names.append(member.name)
                if nested and member.isfile() and member.name.endswith(".tar"):
                    inner = tar.extractfile(member)
                    with tarfile.open(fileobj=inner) as inner_tar:
                        for sub in inner_tar:
                            check_member(sub, dest / member.name[:-4], archive / member.name)
                        _check_end(inner_tar, archive / member.name)
            _check_end(tar, archive)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{archive}: not a readable tar archive ({err}); it may be truncated "
                        "or corrupt") from err
    return names


def extract_tar(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into ``dest`` after checking all members; DataError if unreadable."""
    check_tar(archive, dest)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{archive}: extraction failed ({err}); the archive is truncated "
                        "or corrupt") from err
