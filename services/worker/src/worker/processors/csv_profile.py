"""``csv-profile``: row count and per-column type, nulls and min/max, streamed row by row."""

from __future__ import annotations

import codecs
import csv
import io
from typing import TYPE_CHECKING, Any

from backdrop_common.processor_params import BUILTINS

from worker.processors.api import Processor, ProcessorContext, ProcessorError
from worker.processors.columns import ColumnProfile
from worker.processors.encoding import SAMPLE_SIZE, detect_encoding
from worker.processors.streams import open_buffered

if TYPE_CHECKING:
    from _csv import Reader

SNIFF_DELIMITERS = ",;\t|"
"""Delimiters considered when none is given."""

ROWS_PER_CANCEL_CHECK = 1024
"""Rows between cancellation checks (on top of the check at every chunk read)."""


def sniff_delimiter(sample: bytes, encoding: str) -> str:
    """Guess the delimiter from the complete lines of ``sample``; ``,`` when unsure."""
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)
    end = text.rfind("\n")
    if end > 0:
        text = text[:end]
    try:
        return csv.Sniffer().sniff(text, delimiters=SNIFF_DELIMITERS).delimiter
    except csv.Error:
        return ","


def run(ctx: ProcessorContext) -> dict[str, Any]:
    """Profile the CSV; empty, binary, undecodable or ragged files are ``invalid_input``."""
    buffered = open_buffered(ctx, "profiling")
    sample = buffered.peek(SAMPLE_SIZE)[:SAMPLE_SIZE]
    if not sample:
        raise ProcessorError("invalid_input", "the file is empty")
    encoding = detect_encoding(sample)
    delimiter = ctx.params["delimiter"] or sniff_delimiter(sample, encoding)
    text = io.TextIOWrapper(buffered, encoding=encoding, errors="strict", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        return _profile(ctx, reader)
    except UnicodeDecodeError:
        raise ProcessorError(
            "invalid_input", f"the file is not valid {encoding} text (near line {reader.line_num})"
        ) from None
    except csv.Error as exc:
        raise ProcessorError(
            "invalid_input", f"malformed CSV at line {reader.line_num}: {exc}"
        ) from None


def _profile(ctx: ProcessorContext, reader: Reader) -> dict[str, Any]:
    header = next((row for row in reader if row), None)
    if header is None:
        raise ProcessorError("invalid_input", "the file has no header row")
    columns = [
        ColumnProfile(name.strip() or f"column_{index}") for index, name in enumerate(header, 1)
    ]
    width = len(columns)
    rows = 0
    for row in reader:
        if not row:
            continue
        if len(row) != width:
            raise ProcessorError(
                "invalid_input",
                f"line {reader.line_num} has {len(row)} fields but the header has {width}",
            )
        rows += 1
        if rows % ROWS_PER_CANCEL_CHECK == 0:
            ctx.check_cancelled()
        for column, cell in zip(columns, row, strict=True):
            column.add(cell)
    return {"rows": rows, "columns": [column.to_dict() for column in columns]}


SPEC = BUILTINS["csv-profile"]
processor = Processor(SPEC.name, SPEC.description, SPEC.params_schema, run)
