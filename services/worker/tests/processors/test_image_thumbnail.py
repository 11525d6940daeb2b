"""Tests for the ``image-thumbnail`` processor."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError
from PIL import Image
from worker.processors import ProcessorError
from worker.processors.image_thumbnail import processor
from worker.processors.local import LocalContext
from worker.processors.streams import CHUNK_SIZE

MakeContext = Callable[..., LocalContext]
Run = Callable[..., dict[str, Any]]
Check = Callable[[LocalContext, int], None]


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    """``image`` saved in ``fmt`` as bytes."""
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """An incompressible image, so files span several chunks."""
    bands = len(mode)
    return Image.frombytes(
        mode, (width, height), random.Random(1).randbytes(width * height * bands)
    )


def reopen(ctx: LocalContext, name: str) -> Image.Image:
    """The artifact ``name`` decoded again."""
    image = Image.open(ctx.artifacts[name]["path"])
    image.load()
    return image


def test_png_to_default_webp_keeps_aspect_ratio(
    make_context: MakeContext, run_processor: Run, check_progress: Check
) -> None:
    data = encode(noise(1200, 800), "PNG")
    assert len(data) > 2 * 1024 * 1024
    ctx = make_context(processor, data)

    result = run_processor(processor, ctx)

    assert result == {
        "width": 1200,
        "height": 800,
        "format": "png",
        "thumbnail": {"width": 256, "height": 171},
    }
    thumb = reopen(ctx, "thumbnail.webp")
    assert (thumb.format, thumb.size, thumb.mode) == ("WEBP", (256, 171), "RGB")
    assert ctx.artifacts["thumbnail.webp"]["content_type"] == "image/webp"
    check_progress(ctx, len(data))


def test_large_jpeg_reports_its_real_size(make_context: MakeContext, run_processor: Run) -> None:
    data = encode(Image.new("RGB", (2000, 1500), (200, 30, 30)), "JPEG", quality=90)
    params = {"max_width": 300, "max_height": 100, "format": "png"}
    ctx = make_context(processor, data, params)

    result = run_processor(processor, ctx)

    assert (result["width"], result["height"], result["format"]) == (2000, 1500, "jpeg")
    assert result["thumbnail"] == {"width": 133, "height": 100}
    thumb = reopen(ctx, "thumbnail.png")
    assert (thumb.format, thumb.size) == ("PNG", (133, 100))


def test_exif_orientation_is_applied(make_context: MakeContext, run_processor: Run) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode(Image.new("RGB", (400, 200), "blue"), "JPEG", exif=exif)
    ctx = make_context(processor, data, {"max_width": 100, "max_height": 100, "format": "jpeg"})

    result = run_processor(processor, ctx)

    assert (result["width"], result["height"]) == (200, 400)
    assert result["thumbnail"] == {"width": 50, "height": 100}
    assert reopen(ctx, "thumbnail.jpeg").format == "JPEG"


def test_transparency_kept_in_webp_and_flattened_in_jpeg(
    make_context: MakeContext, run_processor: Run
) -> None:
    data = encode(Image.new("RGBA", (64, 32), (255, 0, 0, 0)), "PNG")
    webp = make_context(processor, data, {"format": "webp"})
    run_processor(processor, webp)
    assert reopen(webp, "thumbnail.webp").mode == "RGBA"

    jpeg = make_context(processor, data, {"format": "jpeg"})
    run_processor(processor, jpeg)
    flat = reopen(jpeg, "thumbnail.jpeg")
    assert flat.mode == "RGB"
    assert flat.getpixel((10, 10)) == pytest.approx((255, 255, 255), abs=3)


def test_palette_gif_with_transparency(make_context: MakeContext, run_processor: Run) -> None:
    image = Image.new("P", (30, 60), 0)
    data = encode(image, "GIF", transparency=0)
    ctx = make_context(processor, data, {"format": "png"})
    result = run_processor(processor, ctx)
    assert (result["format"], result["thumbnail"]) == ("gif", {"width": 30, "height": 60})
    assert reopen(ctx, "thumbnail.png").mode == "RGBA"


def forged_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""
    data = bytearray(encode(Image.new("1", (8, 8)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def test_decompression_bomb_is_invalid_input(make_context: MakeContext, run_processor: Run) -> None:
    with pytest.raises(ProcessorError) as caught:
        run_processor(processor, make_context(processor, forged_png(100_000, 100_000)))
    assert caught.value.code == "invalid_input"
    assert "too large" in caught.value.message


@pytest.mark.parametrize("size", [(40, 30), (100, 100)], ids=["over-limit", "over-twice-limit"])
def test_pixel_limit_follows_pillow_setting(
    make_context: MakeContext,
    run_processor: Run,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = encode(Image.new("RGB", size), "PNG")
    with pytest.raises(ProcessorError) as caught:
        run_processor(processor, make_context(processor, data))
    assert caught.value.code == "invalid_input"


def test_small_images_are_not_upscaled(make_context: MakeContext, run_processor: Run) -> None:
    data = encode(Image.new("L", (50, 40), 128), "PNG")
    result = run_processor(processor, make_context(processor, data))
    assert result["thumbnail"] == {"width": 50, "height": 40}


VALID_PNG = encode(noise(64, 64), "PNG")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        VALID_PNG[: len(VALID_PNG) // 2],
        VALID_PNG[:33] + random.Random(5).randbytes(2000),
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 100,
        b"just some text, not an image\n" * 10,
    ],
    ids=["empty", "truncated", "corrupt-data", "png-magic-then-garbage", "text"],
)
def test_bad_images_are_invalid_input(
    make_context: MakeContext, run_processor: Run, data: bytes
) -> None:
    ctx = make_context(processor, data)
    with pytest.raises(ProcessorError) as caught:
        run_processor(processor, ctx)
    assert caught.value.code == "invalid_input"
    assert ctx.artifacts == {}


@pytest.mark.parametrize(
    "params",
    [{"max_width": 0}, {"max_height": 4097}, {"format": "gif"}, {"width": 10}],
)
def test_invalid_params_are_rejected(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        processor.load_params(params)
    assert set(caught.value.messages) == set(params)


def test_defaults_applied() -> None:
    assert processor.load_params({}) == {"max_width": 256, "max_height": 256, "format": "webp"}


def test_short_reads_still_give_full_chunks(
    make_context: MakeContext, run_processor: Run, check_progress: Check, tmp_path: Path
) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(encode(noise(1500, 1000), "PNG"))
    ctx = make_context(processor, path, short_reads=64 * 1024)
    run_processor(processor, ctx)
    check_progress(ctx, path.stat().st_size)
    assert len(ctx.progress_calls) == -(-path.stat().st_size // CHUNK_SIZE)
