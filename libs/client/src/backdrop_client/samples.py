"""Small sample files, one per built-in processor, for the demo."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path
from typing import Any


def _png(width: int, height: int) -> bytes:
    """A valid RGB PNG with a gradient (written by hand so the client needs no Pillow)."""
    # Each scanline starts with filter byte 0, then RGB triples.
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_samples(folder: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Write the sample files into ``folder``; map processor → (file, params)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    words = ["backdrop", "worker", "stream", "redis", "upload", "progress", "result", "task"]
    text = folder / "notes.txt"
    text.write_text("\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(4000)))
    csv = folder / "people.csv"
    lines = ["id,name,age,score,joined"]
    lines += [
        f"{i},{rng.choice(words)},{rng.randint(18, 90)},{rng.random() * 100:.2f},"
        f"2024-0{1 + i % 9}-1{i % 9}"
        for i in range(5000)
    ]
    csv.write_text("\n".join(lines) + "\n")
    image = folder / "gradient.png"
    image.write_bytes(_png(640, 400))
    blob = folder / "data.bin"
    blob.write_bytes(rng.randbytes(3 * 1024 * 1024))
    return {
        "checksum": (blob, {"algorithms": ["sha256", "md5"]}),
        "text-stats": (text, {"top": 5}),
        "csv-profile": (csv, {}),
        "image-thumbnail": (image, {"max_width": 128, "max_height": 128, "format": "png"}),
        "gzip": (text, {"level": 6}),
    }
