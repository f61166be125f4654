"""Images for ``/view``: a PNG made with zlib alone (no Pillow), and a safe file lookup."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_bytes(width: int = 64, height: int = 64) -> bytes:
    """A small gradient PNG, so a test can check that an ``<img>`` really renders."""
    rows = b"".join(
        b"\x00" + bytes(value for x in range(width) for value in (x * 4 % 256, y * 4 % 256, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def resolve_inside(root: Path, subfolder: str, filename: str) -> Path | None:
    """``root/subfolder/filename`` if it stays inside ``root`` and exists, else None."""
    if not filename or "\x00" in filename or "\x00" in subfolder:
        return None
    base = root.resolve()
    candidate = (base / subfolder / filename).resolve()
    if base not in candidate.parents or not candidate.is_file():
        return None
    return candidate
