#!/usr/bin/env python3
"""Draw the demo's bitmaps (pylws.png, favicon.ico) from the shapes of logo.svg.

Pure Python (zlib + struct), 4x4 supersampling; run it to regenerate them:

    python examples/resources/make_images.py
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

BLUE = (0x1F, 0x6F, 0xD1)
WHITE = (0xFF, 0xFF, 0xFF)
YELLOW = (0xFF, 0xD2, 0x3F)


def shape_at(x: float, y: float) -> tuple[int, int, int, int]:
    """The logo's colour at (x, y) in its 64 x 64 box, as RGBA."""
    # rounded square, corner radius 14
    r = 14.0
    cx = min(max(x, r), 64 - r)
    cy = min(max(y, r), 64 - r)
    if math.hypot(x - cx, y - cy) > r:
        return (0, 0, 0, 0)
    d = math.hypot(x - 32, y - 40)
    if d <= 4.5:
        return (*YELLOW, 255)
    for radius in (18.0, 10.0):
        on_arc = y <= 40 and abs(d - radius) <= 2.5
        on_cap = min(math.hypot(x - 32 + radius, y - 40), math.hypot(x - 32 - radius, y - 40))
        if on_arc or on_cap <= 2.5:
            return (*WHITE, 255)
    return (*BLUE, 255)


def render(size: int, samples: int = 4) -> bytes:
    """RGBA rows of the logo at size x size (alpha premultiplied away)."""
    rows = []
    scale = 64.0 / size
    for py in range(size):
        row = bytearray()
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(samples):
                for sx in range(samples):
                    c = shape_at(
                        (px + (sx + 0.5) / samples) * scale, (py + (sy + 0.5) / samples) * scale
                    )
                    for i in range(3):
                        acc[i] += c[i] * c[3]
                    acc[3] += c[3]
            n = samples * samples
            alpha = acc[3] // n
            rgb = [acc[i] // acc[3] if acc[3] else 0 for i in range(3)]
            row += bytes((*rgb, alpha))
        rows.append(bytes(row))
    return b"".join(b"\0" + r for r in rows)  # filter type 0 per row


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(render(size), 9))
        + chunk(b"IEND", b"")
    )


def ico(size: int) -> bytes:
    """An .ico holding one PNG image (understood by every current browser)."""
    image = png(size)
    return (
        struct.pack("<HHH", 0, 1, 1)
        + struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(image), 6 + 16)
        + image
    )


if __name__ == "__main__":
    (HERE / "pylws.png").write_bytes(png(128))
    (HERE / "favicon.ico").write_bytes(ico(32))
    print("wrote pylws.png and favicon.ico in", HERE)
