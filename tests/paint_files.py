"""Upload files for the paint page's tests: good label PNGs in several modes and the bad uploads
the page must refuse (not an image, too many pixels, colours that are no class colour)."""
from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

from lsgen.data.classes import colorize

NOT_AN_IMAGE = b"this is a text file, not a PNG\n" * 4


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@functools.lru_cache(maxsize=4)
def huge_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid all-zero 8-bit grey PNG of width x height, written row-block by row-block with zlib
    (a few hundred KB; never holds the width*height pixels in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, parts = zlib.compressobj(1), []
    rows = (b"\x00" * (width + 1)) * 500                     # filter byte 0 + a row of zeros, x500
    for start in range(0, height, 500):
        parts.append(compressor.compress(rows[:(width + 1) * min(500, height - start)]))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def unknown_colour_png(width: int = 64, height: int = 48) -> bytes:
    """A colour label map in class colours except a block of (1, 2, 3), which is no class colour."""
    rgb = colorize(np.full((height, width), 5))
    rgb[:8, :8] = (1, 2, 3)
    return png_bytes(Image.fromarray(rgb))


def two_region_ids(width: int, height: int, top: int = 1, bottom: int = 2) -> np.ndarray:
    """(height, width) int32: class `top` over the upper half, `bottom` below."""
    ids = np.full((height, width), bottom, np.int32)
    ids[: height // 2] = top
    return ids
