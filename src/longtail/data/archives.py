"""Tar member checks and extraction that never writes outside the target directory."""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath

from .errors import DataError


def _escapes(path: str) -> bool:
    parts = PurePosixPath(path)
    return parts.is_absolute() or ".." in parts.parts


def check_member(member: tarfile.TarInfo, archive: Path | str) -> None:
    """Raise DataError unless ``member`` is a plain file, folder or link that stays inside.

    Names and link targets must be relative and free of ``..``: then every path, even one
    reached through other links, resolves below the folder the archive is extracted into.
    """
    problem = None
    if _escapes(member.name):
        problem = "has an absolute or '..' path"
    elif not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        problem = "is a device, fifo or other special file"
    elif (member.issym() or member.islnk()) and _escapes(member.linkname):
        problem = f"links to {member.linkname!r}, outside the target directory"
    if problem:
        raise DataError(f"{archive}: member {member.name!r} {problem}; refusing to extract")


def _check_end(tar: tarfile.TarFile, label: Path | str) -> None:
    """Refuse a tar without its end-of-archive block: it was cut at a member boundary.

    tarfile treats such a file as complete and would silently extract fewer members.
    """
    tar.fileobj.seek(tar.offset)
    if tar.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
        raise DataError(f"{label}: no end-of-archive marker after the last member; the "
                        "archive is truncated")


def check_tar(archive: Path, *, nested: bool = False) -> list[str]:
    """Check every member of ``archive`` and that it is complete; return the member names.

    With ``nested`` the members that are themselves ``.tar`` files are checked too (torchvision's
    ImageNet parser extracts the per-class tars inside the train archive).
    """
    try:
        with tarfile.open(archive) as tar:
            names = []
            for member in tar:
                check_member(member, archive)
                names.append(member.name)
                if nested and member.isfile() and member.name.endswith(".tar"):
                    inner = tar.extractfile(member)
                    with tarfile.open(fileobj=inner) as inner_tar:
                        for sub in inner_tar:
                            check_member(sub, f"{archive}/{member.name}")
                        _check_end(inner_tar, f"{archive}/{member.name}")
            _check_end(tar, archive)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{archive}: not a readable tar archive ({err}); it may be truncated "
                        "or corrupt") from err
    return names


def extract_tar(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into ``dest`` after checking all members; DataError if unreadable."""
    check_tar(archive)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{archive}: extraction failed ({err}); the archive is truncated "
                        "or corrupt") from err
