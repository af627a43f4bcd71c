"""Finding verified original files: offline folders first, then mirrors, then torchvision's URLs."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import urllib.error
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from torchvision.datasets.utils import download_url

from .catalog import (
    SYSTEM_DIRS,
    TORCHVISION_CLASSES,
    UPSTREAM_GZIP_MTIME,
    archive_names,
    default_urls,
    join_url,
)
from .errors import DataError
from .verify import describe_mismatch, verify_file

DOWNLOAD_TIMEOUT_S = 60.0


@dataclass
class Found:
    """Verified original files of one dataset and the record of how they were found."""

    files: dict[str, Path] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    looked: list[str] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)


def search_dirs(dataset: str, offline_dirs: Sequence[Path], download_dir: Path,
                imagenet_root: Path | None = None) -> list[Path]:
    """Folders searched for original files, in order."""
    first = [Path(imagenet_root)] if dataset == "imagenet" and imagenet_root else []
    return [*first, *map(Path, offline_dirs), *SYSTEM_DIRS.get(dataset, ()),
            Path(download_dir) / dataset]


def _layouts(dataset: str, folder: Path) -> list[Path]:
    """``folder`` itself, ``folder/<dataset>`` and torchvision's ``folder/<Class>/raw``."""
    out = [folder, folder / dataset]
    cls = TORCHVISION_CLASSES.get(dataset)
    if cls is not None:
        out.append(folder / cls.__name__ / "raw")
    return out


def find_offline(dataset: str, dirs: Sequence[Path], checksums: Mapping[str, str]) -> Found:
    """First verified copy of every original file in ``dirs``; mismatches are recorded."""
    found = Found()
    upstream = UPSTREAM_GZIP_MTIME.get(dataset, {})
    for folder in dirs:
        notes = []
        for layout in _layouts(dataset, folder):
            for name in archive_names(dataset):
                path = layout / name
                if name in found.files or not path.is_file():
                    continue
                if dataset == "imagenet":  # 150 GB: torchvision's parser verifies it once
                    found.files[name], found.how[name] = path, "md5 (torchvision ImageNet parser)"
                    continue
                how = verify_file(path, checksums[name], upstream.get(name))
                if how is None:
                    notes.append(describe_mismatch(path, checksums[name]))
                else:
                    found.files[name], found.how[name] = path, how
                    notes.append(f"{path}: verified ({how})")
        if not notes:
            subfolders = ", ".join(str(p.relative_to(folder))
                                   for p in _layouts(dataset, folder)[1:])
            notes.append(f"{folder}: no {dataset} files (nor in its subfolders {subfolders})")
        found.looked.extend(notes)
    return found


def candidate_urls(dataset: str, name: str, mirrors: Sequence[str]) -> list[str]:
    """Configured mirrors first, then torchvision's own URLs for the same file."""
    urls = [join_url(mirror, name) for mirror in mirrors]
    return urls + [url for url in default_urls(dataset, name) if url not in urls]


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def download_missing(dataset: str, found: Found, download_dir: Path, mirrors: Sequence[str],
                     checksums: Mapping[str, str]) -> None:
    """Download every file not in ``found`` with torchvision's verifying ``download_url``.

    Each download lands in a private staging folder; only a file that passed its md5 is moved
    to ``download_dir/<dataset>/``, so an interrupted or corrupt download is never reused.
    """
    target = Path(download_dir) / dataset
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dataset}-", suffix=".partial", dir=target))
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            for name in archive_names(dataset):
                if name in found.files:
                    continue
                for url in candidate_urls(dataset, name, mirrors):
                    try:
                        download_url(url, staging, filename=name, md5=checksums[name])
                    except (urllib.error.URLError, OSError, RuntimeError, ValueError) as err:
                        reason = str(err)
                        if isinstance(err, RuntimeError) and (staging / name).is_file():
                            reason = "checksum mismatch, " + describe_mismatch(
                                staging / name, checksums[name]).split(": ", 1)[1]
                        found.tried.append(f"{url}: {reason}")
                        (staging / name).unlink(missing_ok=True)
                        continue
                    os.replace(staging / name, target / name)
                    found.files[name], found.how[name] = target / name, f"md5, downloaded {url}"
                    found.tried.append(f"{url}: downloaded and verified")
                    break
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def locate(dataset: str, *, download_dir: Path, offline_dirs: Sequence[Path] = (),
           mirrors: Sequence[str] = (), imagenet_root: Path | None = None,
           allow_download: bool = True, checksums: Mapping[str, str]) -> Found:
    """Verified paths of all original files of ``dataset``, or DataError saying what was tried."""
    dirs = search_dirs(dataset, offline_dirs, download_dir, imagenet_root)
    found = find_offline(dataset, dirs, checksums)
    missing = [name for name in archive_names(dataset) if name not in found.files]
    if missing and allow_download and dataset != "imagenet":
        download_missing(dataset, found, download_dir, mirrors, checksums)
        missing = [name for name in archive_names(dataset) if name not in found.files]
    if missing:
        raise DataError(_failure_message(dataset, missing, found, allow_download, imagenet_root))
    return found


def _failure_message(dataset: str, missing: list[str], found: Found, allow_download: bool,
                     imagenet_root: Path | None) -> str:
    lines = [f"cannot obtain dataset {dataset!r}: no verified copy of {', '.join(missing)}",
             "looked in:", *(f"  {note}" for note in found.looked)]
    if dataset == "imagenet":
        lines.append("ImageNet is not downloadable: place the ILSVRC2012 archives in "
                     f"data.imagenet_root (now {imagenet_root})")
    elif not allow_download:
        lines.append("downloads are disabled (allow_download=False)")
    else:
        lines += ["downloads tried:", *(f"  {attempt}" for attempt in found.tried)]
    return "\n".join(lines)
