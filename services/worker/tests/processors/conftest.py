"""Fixtures for processor tests: local contexts over bytes or files, cancellation, progress."""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

import pytest
from worker.processors import Processor
from worker.processors.local import LocalContext
from worker.processors.streams import CHUNK_SIZE


class ShortReads:
    """A reader returning at most ``step`` bytes per call, like a network stream may."""

    def __init__(self, inner: io.BufferedIOBase | io.BytesIO, step: int) -> None:
        self._inner = inner
        self._step = step

    def read(self, size: int = -1, /) -> bytes:
        """Read at most ``min(size, step)`` bytes."""
        limit = self._step if size < 0 else min(size, self._step)
        return self._inner.read(limit)


class CancellingContext(LocalContext):
    """A context that flips its cancel flag after ``cancel_after`` progress reports."""

    cancel_after = 1

    def progress(self, done: int, total: int, stage: str, message: str | None = None) -> None:
        """Record the report, then cancel once enough have been seen."""
        super().progress(done, total, stage, message)
        if len(self.progress_calls) >= self.cancel_after:
            self.cancel()


def _cancelling(after: int) -> type[LocalContext]:
    return type("CancelAfter", (CancellingContext,), {"cancel_after": after})


class MakeContext(Protocol):
    """Signature of the ``make_context`` fixture."""

    def __call__(
        self,
        processor: Processor,
        data: bytes | Path,
        params: Mapping[str, Any] | None = None,
        *,
        filename: str = "input.bin",
        cancel_after: int | None = None,
        short_reads: int | None = None,
    ) -> LocalContext: ...


@pytest.fixture
def make_context(tmp_path: Path) -> Iterator[MakeContext]:
    """Build a ``LocalContext`` for ``processor`` over bytes or a file, params validated.

    ``cancel_after=n`` cancels the task after its n-th progress report; ``short_reads=k``
    makes the input return at most k bytes per read.
    """
    with ExitStack() as stack:

        def make(
            processor: Processor,
            data: bytes | Path,
            params: Mapping[str, Any] | None = None,
            *,
            filename: str = "input.bin",
            cancel_after: int | None = None,
            short_reads: int | None = None,
        ) -> LocalContext:
            if isinstance(data, Path):
                size = data.stat().st_size
                stream: Any = stack.enter_context(data.open("rb"))
            else:
                size, stream = len(data), io.BytesIO(data)
            if short_reads:
                stream = ShortReads(stream, short_reads)
            loaded = processor.load_params(params)
            artifacts = tmp_path / "artifacts"
            cls = LocalContext if cancel_after is None else _cancelling(cancel_after)
            return cls(stream, size, artifacts, params=loaded, filename=filename)

        yield make


@pytest.fixture
def check_progress() -> Callable[[LocalContext, int], None]:
    """Assert progress came at least once per chunk, never went back and ended at the size."""

    def check(ctx: LocalContext, size: int) -> None:
        calls = ctx.progress_calls
        assert len(calls) >= max(1, math.ceil(size / CHUNK_SIZE))
        dones = [call.done for call in calls]
        assert dones == sorted(dones)
        assert all(call.done <= call.total for call in calls)
        assert (calls[-1].done, calls[-1].total) == (size, size)

    return check


@pytest.fixture
def run_processor() -> Callable[[Processor, LocalContext], dict[str, Any]]:
    """Run a processor on a context and check its result is strict JSON."""

    def run(processor: Processor, ctx: LocalContext) -> dict[str, Any]:
        result = processor.run(ctx)
        json.dumps(result, allow_nan=False)
        return result

    return run


@pytest.fixture
def rng() -> random.Random:
    """A seeded random generator, so failures reproduce."""
    return random.Random(20240607)


_VOCABULARY = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi chi psi omega the of and to in is was it for on with as"
)
WORDS = _VOCABULARY.split()


@pytest.fixture
def make_text(rng: random.Random) -> Callable[..., str]:
    """``make_text(target, words=None)``: about ``target`` characters of words and whitespace."""
    separators = [" ", " ", " ", "  ", "\t", "\n", "\n\n", " \n"]

    def make(target: int, words: list[str] | None = None) -> str:
        vocabulary = words or WORDS
        parts: list[str] = []
        length = 0
        while length < target:
            word = rng.choice(vocabulary)
            if rng.random() < 0.1:
                word = word.capitalize()
            parts += [word, rng.choice(separators)]
            length += len(word) + 2
        return "".join(parts)

    return make
