"""Behaviour every built-in shares: cancellation, progress, JSON results, empty input."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from worker.processors import Cancelled, Processor, ProcessorError, load_processors
from worker.processors.local import LocalContext

MakeContext = Callable[..., LocalContext]
Run = Callable[..., dict[str, Any]]
Check = Callable[[LocalContext, int], None]

BUILTINS = ["checksum", "text-stats", "csv-profile", "image-thumbnail", "gzip"]
SIZE = 3 * 1024 * 1024 + 17


def big_input(name: str, tmp_path: Path) -> Path:
    """A valid input of a few MiB (several chunks) for the named processor."""
    path = tmp_path / f"{name}.input"
    rng = random.Random(name)
    if name == "text-stats":
        words = ["lorem", "ipsum", "dolor", "sit", "amet", "\n"]
        path.write_text(" ".join(rng.choice(words) for _ in range(SIZE // 5)))
    elif name == "csv-profile":
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["n", "x", "label"])
            for index in range(SIZE // 24):
                writer.writerow([index, rng.random(), rng.choice(["a", "b", "c"])])
    elif name == "image-thumbnail":
        Image.frombytes("RGB", (1100, 1000), rng.randbytes(1100 * 1000 * 3)).save(path, "PNG")
    else:
        path.write_bytes(rng.randbytes(SIZE))
    assert path.stat().st_size > 2 * 1024 * 1024
    return path


@pytest.fixture(scope="module")
def loaded() -> dict[str, Processor]:
    """The built-in processors, loaded through their entry points."""
    return load_processors(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_runs_with_progress_per_chunk_ending_at_size(
    name: str,
    loaded: dict[str, Processor],
    make_context: MakeContext,
    run_processor: Run,
    check_progress: Check,
    tmp_path: Path,
) -> None:
    path = big_input(name, tmp_path)
    ctx = make_context(loaded[name], path, filename="data.bin")
    run_processor(loaded[name], ctx)
    check_progress(ctx, path.stat().st_size)


@pytest.mark.parametrize("cancel_after", [1, 2])
@pytest.mark.parametrize("name", BUILTINS)
def test_cancellation_mid_way_raises_cancelled(
    name: str,
    cancel_after: int,
    loaded: dict[str, Processor],
    make_context: MakeContext,
    tmp_path: Path,
) -> None:
    path = big_input(name, tmp_path)
    ctx = make_context(loaded[name], path, cancel_after=cancel_after)
    with pytest.raises(Cancelled):
        loaded[name].run(ctx)
    assert ctx.cancelled
    assert ctx.progress_calls[-1].done < path.stat().st_size
    assert ctx.artifacts == {}


def test_cancelled_escapes_a_broad_except_exception() -> None:
    def careless() -> None:
        try:
            raise Cancelled
        except Exception:  # noqa: S110 - the point of the test
            pass

    with pytest.raises(Cancelled):
        careless()


EMPTY_OUTCOME = {
    "checksum": "ok",
    "text-stats": "ok",
    "csv-profile": "invalid_input",
    "image-thumbnail": "invalid_input",
    "gzip": "ok",
}


@pytest.mark.parametrize("name", BUILTINS)
def test_empty_input(
    name: str, loaded: dict[str, Processor], make_context: MakeContext, run_processor: Run
) -> None:
    ctx = make_context(loaded[name], b"", filename="empty")
    if EMPTY_OUTCOME[name] == "ok":
        run_processor(loaded[name], ctx)
        assert ctx.progress_calls[-1][:2] == (0, 0)
    else:
        with pytest.raises(ProcessorError) as caught:
            run_processor(loaded[name], ctx)
        assert caught.value.code == EMPTY_OUTCOME[name]


@pytest.mark.parametrize("name", BUILTINS)
def test_single_byte_reads(
    name: str, loaded: dict[str, Processor], make_context: MakeContext
) -> None:
    data = {
        "text-stats": b"one two\n",
        "csv-profile": b"a,b\n1,x\n",
        "image-thumbnail": _tiny_png(),
    }.get(name, b"bytes")
    ctx = make_context(loaded[name], data, short_reads=1)
    loaded[name].run(ctx)
    assert ctx.progress_calls[-1][:2] == (len(data), len(data))


def _tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 2), "red").save(out, "PNG")
    return out.getvalue()
