"""Tests for the ``gzip`` processor."""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError
from worker.processors import gzip_compress
from worker.processors.api import ArtifactSource
from worker.processors.gzip_compress import artifact_name, processor
from worker.processors.local import LocalContext

MakeContext = Callable[..., LocalContext]
Run = Callable[..., dict[str, Any]]
Check = Callable[[LocalContext, int], None]


def test_round_trip(
    make_context: MakeContext,
    run_processor: Run,
    check_progress: Check,
    make_text: Callable[..., str],
    tmp_path: Path,
) -> None:
    data = make_text(2 * 1024 * 1024).encode() + random.Random(2).randbytes(1024 * 1024)
    path = tmp_path / "mixed.bin"
    path.write_bytes(data)
    ctx = make_context(processor, path, {"level": 9}, filename="reports/2024/mixed.bin")

    result = run_processor(processor, ctx)

    artifact = ctx.artifacts["mixed.bin.gz"]
    compressed = Path(artifact["path"]).read_bytes()
    assert gzip.decompress(compressed) == data
    assert artifact["size"] == len(compressed) == result["output_bytes"]
    assert artifact["content_type"] == "application/gzip"
    assert result["input_bytes"] == len(data)
    assert result["ratio"] == round(len(compressed) / len(data), 4)
    assert result["ratio"] < 1
    check_progress(ctx, len(data))


def test_output_is_streamed_in_pieces(make_context: MakeContext, run_processor: Run) -> None:
    pieces: list[int] = []

    class Recording(LocalContext):
        def write_artifact(
            self, name: str, data: ArtifactSource, content_type: str
        ) -> dict[str, Any]:
            assert isinstance(data, Iterable) and not isinstance(data, bytes | bytearray)
            chunks = list(data)
            pieces.extend(len(chunk) for chunk in chunks)
            return {"name": name, "size": sum(pieces)}

    data = random.Random(4).randbytes(3 * 1024 * 1024)
    base = make_context(processor, data)
    ctx = Recording(base.input, base.size, base.artifacts_dir, params=base.params)
    result = run_processor(processor, ctx)
    assert len(pieces) > 3
    assert sum(pieces) == result["output_bytes"]


def test_levels_change_the_output(make_context: MakeContext, run_processor: Run) -> None:
    data = b"abcabcabd" * 100_000
    fast = run_processor(processor, make_context(processor, data, {"level": 1}))
    best = run_processor(processor, make_context(processor, data, {"level": 9}))
    assert best["output_bytes"] < fast["output_bytes"]


def test_empty_file_gives_a_valid_empty_gzip(
    make_context: MakeContext, run_processor: Run, check_progress: Check
) -> None:
    ctx = make_context(processor, b"", filename="empty.txt")
    result = run_processor(processor, ctx)
    assert result["input_bytes"] == 0
    assert result["ratio"] is None
    assert gzip.decompress(Path(ctx.artifacts["empty.txt.gz"]["path"]).read_bytes()) == b""
    check_progress(ctx, 0)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report.csv", "report.csv.gz"),
        ("../../etc/passwd", "passwd.gz"),
        ("C:\\Users\\me\\notes.txt", "notes.txt.gz"),
        ("dir/", "input.gz"),
        ("..", "input.gz"),
        ("bad\nname\x00.txt", "badname.txt.gz"),
    ],
)
def test_artifact_name_uses_only_the_basename(filename: str, expected: str) -> None:
    assert artifact_name(filename) == expected


def test_a_runtime_that_stops_reading_is_an_error(
    make_context: MakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = make_context(processor, b"x" * 10)
    monkeypatch.setattr(ctx, "write_artifact", lambda name, data, content_type: {})
    with pytest.raises(RuntimeError, match="stopped before the end"):
        gzip_compress.run(ctx)


@pytest.mark.parametrize("params", [{"level": 0}, {"level": 10}, {"level": "max"}, {"lvl": 1}])
def test_invalid_params_are_rejected(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        processor.load_params(params)
    assert set(caught.value.messages) == set(params)


def test_defaults_applied() -> None:
    assert processor.load_params({}) == {"level": 6}
