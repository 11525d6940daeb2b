"""``image-thumbnail``: a bounded-size thumbnail of an image, written as an artifact."""

from __future__ import annotations

import struct
import tempfile
import zlib
from typing import IO, Any

from backdrop_common.processor_params import BUILTINS
from PIL import Image, ImageOps, UnidentifiedImageError

from worker.processors.api import Processor, ProcessorContext, ProcessorError
from worker.processors.streams import CHUNK_SIZE, iter_chunks

FORMATS = {
    "webp": ("WEBP", "image/webp", {"quality": 80, "method": 4}),
    "png": ("PNG", "image/png", {}),
    "jpeg": ("JPEG", "image/jpeg", {"quality": 85, "optimize": True}),
}
"""Output format -> (Pillow format, content type, save options)."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Pixel limit used if ``Image.MAX_IMAGE_PIXELS`` has been disabled (set to None)."""

SPOOL_IN_MEMORY = 8 * CHUNK_SIZE
"""Inputs and thumbnails up to this size stay in memory; larger ones go to a temp file."""

# Everything Pillow raises on corrupt, truncated or hostile input; anything else is a bug.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


def run(ctx: ProcessorContext) -> dict[str, Any]:
    """Decode the image (bomb-checked), shrink it keeping its aspect ratio, store the result."""
    box = (ctx.params["max_width"], ctx.params["max_height"])
    output_format = ctx.params["format"]
    pil_format, content_type, options = FORMATS[output_format]
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        for chunk in iter_chunks(ctx, "reading"):
            spool.write(chunk)
        if spool.tell() == 0:
            raise ProcessorError("invalid_input", "the file is empty")
        spool.seek(0)
        image, input_format, (width, height) = _decode(spool, max(box))
    ctx.check_cancelled()
    with image:
        thumb = _shrink(image, box, output_format)
        result = {
            "width": width,
            "height": height,
            "format": input_format,
            "thumbnail": {"width": thumb.width, "height": thumb.height},
        }
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as encoded:
            thumb.save(encoded, format=pil_format, **options)
            encoded.seek(0)
            ctx.check_cancelled()
            ctx.write_artifact(f"thumbnail.{output_format}", encoded, content_type)
    return result


def _decode(fileobj: IO[bytes], side: int) -> tuple[Image.Image, str, tuple[int, int]]:
    """Open, size-check and decode the image upright (EXIF orientation applied).

    Returns the image, its format and its full upright size: JPEGs decode at a reduced
    scale that is still at least ``side`` pixels, so the decoded size may be smaller.
    """
    limit = Image.MAX_IMAGE_PIXELS or DEFAULT_MAX_PIXELS
    try:
        with Image.open(fileobj) as opened:
            width, height = opened.size
            if width * height > limit:
                raise ProcessorError(
                    "invalid_input",
                    f"the image is too large ({width}x{height} pixels, limit {limit})",
                )
            input_format = (opened.format or "unknown").lower()
            opened.draft(None, (side, side))
            opened.load()
            upright = ImageOps.exif_transpose(opened) or opened.copy()
            turned = upright.size != opened.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ProcessorError("invalid_input", f"the image is too large: {exc}") from None
    except UnidentifiedImageError:
        raise ProcessorError("invalid_input", "the file is not an image Pillow can read") from None
    except _DECODE_ERRORS:
        raise ProcessorError("invalid_input", "the image is corrupt or truncated") from None
    return upright, input_format, (height, width) if turned else (width, height)


def _shrink(image: Image.Image, box: tuple[int, int], output_format: str) -> Image.Image:
    """The thumbnail, in a mode ``output_format`` stores; ``image`` may be shrunk in place."""
    if image.mode in ("1", "P"):
        # Pillow resizes these modes nearest-neighbour only: convert first for a smooth result.
        thumb = _convert_for(image, output_format)
        thumb.thumbnail(box, Image.Resampling.LANCZOS)
        return thumb
    # Otherwise shrink before converting, so no second full-size copy is ever made.
    image.thumbnail(box, Image.Resampling.LANCZOS)
    return _convert_for(image, output_format)


def _convert_for(image: Image.Image, output_format: str) -> Image.Image:
    """A copy of ``image`` in a mode the output format stores faithfully."""
    transparent = image.has_transparency_data
    if output_format != "jpeg":
        return image.convert("RGBA" if transparent else "RGB")
    if not transparent:
        return image.convert("L" if image.mode in ("1", "L") else "RGB")
    # JPEG has no alpha channel: flatten onto white rather than onto black.
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


SPEC = BUILTINS["image-thumbnail"]
processor = Processor(SPEC.name, SPEC.description, SPEC.params_schema, run)
