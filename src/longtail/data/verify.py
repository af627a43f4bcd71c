"""Checksum verification of original files with torchvision's helpers."""

from __future__ import annotations

import hashlib
from pathlib import Path

from torchvision.datasets.utils import calculate_md5, check_integrity

_FEXTRA, _FNAME, _FCOMMENT, _FHCRC = 4, 8, 16, 2


def gzip_payload_offset(path: Path) -> int:
    """Byte offset where the deflate stream of a gzip file starts (after its header)."""
    with open(path, "rb") as fh:
        head = fh.read(10)
        if len(head) < 10 or head[:3] != b"\x1f\x8b\x08":
            raise ValueError(f"{path} is not a gzip file")
        flags = head[3]
        if flags & _FEXTRA:
            fh.seek(int.from_bytes(fh.read(2), "little"), 1)
        for flag in (_FNAME, _FCOMMENT):
            if flags & flag:
                while fh.read(1) not in (b"\x00", b""):
                    pass
        if flags & _FHCRC:
            fh.read(2)
        return fh.tell()


def restored_gzip_md5(path: Path, name: str, mtime: int, chunk_size: int = 1 << 20) -> str:
    """md5 of ``path`` with its gzip header replaced by the one upstream's ``gzip`` wrote.

    That header records ``name`` (without ``.gz``) and ``mtime``, XFL 0 and OS 3 (Unix).
    """
    header = b"\x1f\x8b\x08" + bytes([_FNAME]) + mtime.to_bytes(4, "little") + b"\x00\x03"
    md5 = hashlib.md5(header + name.removesuffix(".gz").encode() + b"\x00",
                      usedforsecurity=False)
    with open(path, "rb") as fh:
        fh.seek(gzip_payload_offset(path))
        while chunk := fh.read(chunk_size):
            md5.update(chunk)
    return md5.hexdigest()


def verify_file(path: Path, md5: str, upstream_mtime: int | None = None) -> str | None:
    """Return how ``path`` was verified against ``md5``, or None when it does not match.

    With ``upstream_mtime`` a file whose only difference is a re-written gzip header (as in
    Debian's dataset packages) also verifies, against the same upstream md5.
    """
    if check_integrity(path, md5):
        return "md5"
    if upstream_mtime is not None:
        try:
            if restored_gzip_md5(path, path.name, upstream_mtime) == md5:
                return "md5 of upstream gzip header + this deflate stream"
        except ValueError:
            return None
    return None


def describe_mismatch(path: Path, md5: str) -> str:
    """A one-line explanation of why ``path`` did not verify."""
    return f"{path}: md5 {calculate_md5(path)}, expected {md5}"
