"""Tests for the ``csv-profile`` processor."""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError
from worker.processors import ProcessorError
from worker.processors.csv_profile import processor
from worker.processors.local import LocalContext

MakeContext = Callable[..., LocalContext]
Run = Callable[..., dict[str, Any]]
Check = Callable[[LocalContext, int], None]


def write_known_csv(
    path: Path, rng: random.Random, rows: int, delimiter: str
) -> list[dict[str, Any]]:
    """Write a CSV with one column per type and return the expected column profiles."""
    start = dt.date(2020, 1, 1)
    ids, prices, flags, dates, names = [], [], [], [], []
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow(["id", "price", "active", "joined", "name", "mixed", "empty"])
        for index in range(1, rows + 1):
            price = "" if index % 10 == 0 else f"{rng.uniform(-50, 5000):.2f}"
            flag = "" if index % 7 == 0 else rng.choice(["true", "false", "True", "FALSE"])
            joined = (start + dt.timedelta(days=rng.randrange(2000))).isoformat()
            name = rng.choice(["Ana", "Bo; the second", "Zoë", 'say "hi"', "multi\nline"])
            mixed = "n/a" if index == rows // 2 else str(index)
            ids.append(index)
            prices += [float(price)] if price else []
            flags += [flag.lower() == "true"] if flag else []
            dates.append(joined)
            names.append(name)
            writer.writerow([index, price, flag, joined, name, mixed, ""])
    mixed_values = [str(i) for i in range(1, rows + 1) if i != rows // 2] + ["n/a"]

    def column(name: str, kind: str, nulls: int, low: Any, high: Any) -> dict[str, Any]:
        return {"name": name, "type": kind, "nulls": nulls, "min": low, "max": high}

    return [
        column("id", "integer", 0, 1, rows),
        column("price", "float", rows // 10, min(prices), max(prices)),
        column("active", "boolean", rows // 7, min(flags), max(flags)),
        column("joined", "date", 0, min(dates), max(dates)),
        column("name", "string", 0, min(names), max(names)),
        column("mixed", "string", 0, min(mixed_values), max(mixed_values)),
        column("empty", "string", rows, None, None),
    ]


def test_profile_of_generated_semicolon_csv(
    make_context: MakeContext,
    run_processor: Run,
    check_progress: Check,
    rng: random.Random,
    tmp_path: Path,
) -> None:
    path = tmp_path / "data.csv"
    expected = write_known_csv(path, rng, rows=60_000, delimiter=";")
    assert path.stat().st_size > 2 * 1024 * 1024
    ctx = make_context(processor, path)

    result = run_processor(processor, ctx)

    assert result == {"rows": 60_000, "columns": expected}
    check_progress(ctx, path.stat().st_size)


@pytest.mark.parametrize("delimiter", [",", "\t", "|"])
def test_other_delimiters_are_sniffed(
    make_context: MakeContext,
    run_processor: Run,
    rng: random.Random,
    tmp_path: Path,
    delimiter: str,
) -> None:
    path = tmp_path / "data.csv"
    expected = write_known_csv(path, rng, rows=300, delimiter=delimiter)
    result = run_processor(processor, make_context(processor, path, short_reads=777))
    assert result == {"rows": 300, "columns": expected}


def test_explicit_delimiter_wins_over_sniffing(
    make_context: MakeContext, run_processor: Run
) -> None:
    data = b"a;b,c\n1;2,3\n4;5,6\n"
    result = run_processor(processor, make_context(processor, data, {"delimiter": ";"}))
    assert [column["name"] for column in result["columns"]] == ["a", "b,c"]
    assert result["columns"][1]["type"] == "string"


def test_bom_header_and_crlf(make_context: MakeContext, run_processor: Run) -> None:
    data = "\ufeffcount,ratio\r\n1,0.5\r\n-3,1e3\r\n\r\n".encode()
    result = run_processor(processor, make_context(processor, data))
    assert result == {
        "rows": 2,
        "columns": [
            {"name": "count", "type": "integer", "nulls": 0, "min": -3, "max": 1},
            {"name": "ratio", "type": "float", "nulls": 0, "min": 0.5, "max": 1000.0},
        ],
    }


def test_header_only_has_no_rows(make_context: MakeContext, run_processor: Run) -> None:
    result = run_processor(processor, make_context(processor, b"a,b\n"))
    assert result["rows"] == 0
    assert [column["type"] for column in result["columns"]] == ["string", "string"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n\n\n",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10,
        bytes(random.Random(3).randbytes(100_000)),
        b"a,b,c\n1,2,3\n4,5\nx;y,z,w,v\n",
        b'a,b\n"unterminated,1\n' + b"x" * 200_000 + b"\n",
    ],
    ids=["empty", "blank-lines", "png", "random", "ragged", "huge-field"],
)
def test_bad_input_is_invalid_input(
    make_context: MakeContext, run_processor: Run, data: bytes
) -> None:
    with pytest.raises(ProcessorError) as caught:
        run_processor(processor, make_context(processor, data))
    assert caught.value.code == "invalid_input"


def test_non_finite_numbers_are_strings(make_context: MakeContext, run_processor: Run) -> None:
    result = run_processor(processor, make_context(processor, b"x\n1\n1e999\n"))
    assert result["columns"][0]["type"] == "string"


@pytest.mark.parametrize(
    "params", [{"delimiter": ";;"}, {"delimiter": ""}, {"delimiter": '"'}, {"sep": ";"}]
)
def test_invalid_params_are_rejected(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        processor.load_params(params)
    assert set(caught.value.messages) == set(params)


def test_defaults_applied() -> None:
    assert processor.load_params({}) == {"delimiter": None}
