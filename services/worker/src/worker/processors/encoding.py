"""Text encoding detection for the text processors (text-stats, csv-profile)."""

from __future__ import annotations

import codecs

import charset_normalizer

from worker.processors.api import ProcessorError

SAMPLE_SIZE = 64 * 1024
"""Bytes inspected to pick an encoding (charset-normalizer slows down on larger samples)."""

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# charset-normalizer often ranks a Baltic or Central European code page first for short
# Western European text; windows-1252 (what browsers use for "latin-1") wins near-ties.
_CP1252_TOLERANCE = 0.1


def detect_encoding(sample: bytes) -> str:
    """Pick the Python codec for text starting with ``sample``.

    BOM first, then strict UTF-8 (pure ASCII counts as UTF-8), then charset-normalizer.
    Raises ``ProcessorError("invalid_input")`` for binary data.
    """
    sample = sample[:SAMPLE_SIZE]
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    if b"\x00" in sample:
        raise ProcessorError("invalid_input", "the file is binary (it contains NUL bytes)")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    matches = charset_normalizer.from_bytes(sample)
    best = matches.best()
    if best is None:
        raise ProcessorError("invalid_input", "the file is not text in any known encoding")
    for match in matches:
        if match.encoding == "cp1252" and match.chaos <= best.chaos + _CP1252_TOLERANCE:
            return "cp1252"
    return codecs.lookup(best.encoding).name


def decode_error(encoding: str, offset: int) -> ProcessorError:
    """The ``invalid_input`` error for bytes that do not decode, at absolute ``offset``."""
    return ProcessorError(
        "invalid_input", f"the file is not valid {encoding} text (at byte {offset})"
    )
