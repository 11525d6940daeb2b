"""The built-in processors' definitions: name, description and parameter schema of each.

The one copy both sides use: the worker runs these processors with these schemas, and the
gateway validates a new task's params with them and lists them even before any worker has
published its catalogue. (Third-party processors are known to the gateway only through the
catalogue the workers publish; see ``backdrop_common.catalogue``.)
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import Schema, fields, validate

CHECKSUM_ALGORITHMS = ("sha256", "sha1", "md5", "blake2b")
THUMBNAIL_FORMATS = ("webp", "png", "jpeg")


@dataclass(frozen=True)
class ProcessorSpec:
    """What the API says about a processor: its name, description and parameter schema."""

    name: str
    description: str
    params_schema: type[Schema]


# Integers are ``strict``: "10" or 10.5 is a client mistake to report, not to coerce.


class ChecksumParams(Schema):
    """Parameters of ``checksum``."""

    algorithms = fields.List(
        fields.String(validate=validate.OneOf(CHECKSUM_ALGORITHMS)),
        load_default=lambda: ["sha256"],
        validate=validate.Length(min=1, max=len(CHECKSUM_ALGORITHMS)),
        metadata={"description": "Digests to compute; sha256 is always included."},
    )


class TextStatsParams(Schema):
    """Parameters of ``text-stats``."""

    top = fields.Integer(
        strict=True,
        load_default=10,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "How many of the most frequent words to return."},
    )


class CsvProfileParams(Schema):
    """Parameters of ``csv-profile``."""

    delimiter = fields.String(
        load_default=None,
        allow_none=True,
        # A quote or a line break cannot delimit fields.
        validate=[validate.Length(equal=1), validate.NoneOf(['"', "\r", "\n"])],
        metadata={"description": "Field delimiter; sniffed from the first lines when absent."},
    )


class ThumbnailParams(Schema):
    """Parameters of ``image-thumbnail``."""

    max_width = fields.Integer(
        strict=True,
        load_default=256,
        validate=validate.Range(min=1, max=4096),
        metadata={"description": "Maximum thumbnail width in pixels."},
    )
    max_height = fields.Integer(
        strict=True,
        load_default=256,
        validate=validate.Range(min=1, max=4096),
        metadata={"description": "Maximum thumbnail height in pixels."},
    )
    format = fields.String(
        load_default="webp",
        validate=validate.OneOf(THUMBNAIL_FORMATS),
        metadata={"description": "Thumbnail image format."},
    )


class GzipParams(Schema):
    """Parameters of ``gzip``."""

    level = fields.Integer(
        strict=True,
        load_default=6,
        validate=validate.Range(min=1, max=9),
        metadata={"description": "Compression level, 1 (fastest) to 9 (smallest)."},
    )


BUILTINS: dict[str, ProcessorSpec] = {
    spec.name: spec
    for spec in (
        ProcessorSpec(
            "checksum",
            "Checksums of the file (sha256 and optionally sha1, md5, blake2b).",
            ChecksumParams,
        ),
        ProcessorSpec(
            "text-stats",
            "Line, word and character counts of a text file and its most frequent words.",
            TextStatsParams,
        ),
        ProcessorSpec(
            "csv-profile",
            "Rows of a CSV file and each column's type, null count, minimum and maximum.",
            CsvProfileParams,
        ),
        ProcessorSpec(
            "image-thumbnail",
            "A thumbnail (webp, png or jpeg) no larger than max_width x max_height.",
            ThumbnailParams,
        ),
        ProcessorSpec(
            "gzip",
            "The file compressed with gzip, as an artifact named <filename>.gz.",
            GzipParams,
        ),
    )
}
"""The built-in processors by name."""
