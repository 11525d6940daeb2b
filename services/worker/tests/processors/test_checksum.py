"""Tests for the ``checksum`` processor."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError
from worker.processors.checksum import processor
from worker.processors.local import LocalContext

MakeContext = Callable[..., LocalContext]
Run = Callable[..., dict[str, Any]]
Check = Callable[[LocalContext, int], None]

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_matches_hashlib_on_random_bytes(
    make_context: MakeContext, run_processor: Run, check_progress: Check, tmp_path: Path
) -> None:
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 12345)
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    ctx = make_context(processor, path, {"algorithms": ["sha256", "sha1", "md5", "blake2b"]})

    result = run_processor(processor, ctx)

    assert result == {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),  # noqa: S324 - comparing, not securing
        "md5": hashlib.md5(data).hexdigest(),  # noqa: S324
        "blake2b": hashlib.blake2b(data).hexdigest(),
    }
    check_progress(ctx, len(data))


def test_default_is_sha256_only(make_context: MakeContext, run_processor: Run) -> None:
    result = run_processor(processor, make_context(processor, b"hello"))
    assert result == {"bytes": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}


def test_sha256_always_present_and_duplicates_ignored(
    make_context: MakeContext, run_processor: Run
) -> None:
    ctx = make_context(processor, b"abc", {"algorithms": ["md5", "md5"]})
    result = run_processor(processor, ctx)
    assert set(result) == {"bytes", "sha256", "md5"}


def test_short_reads_give_the_same_digest(make_context: MakeContext, run_processor: Run) -> None:
    data = bytes(range(256)) * 5000
    ctx = make_context(processor, data, short_reads=999)
    assert run_processor(processor, ctx)["sha256"] == hashlib.sha256(data).hexdigest()


def test_empty_file_has_the_known_digest(
    make_context: MakeContext, run_processor: Run, check_progress: Check
) -> None:
    ctx = make_context(processor, b"")
    assert run_processor(processor, ctx) == {"bytes": 0, "sha256": EMPTY_SHA256}
    check_progress(ctx, 0)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"algorithms": ["sha512"]}, "algorithms"),
        ({"algorithms": []}, "algorithms"),
        ({"algorithms": "sha256"}, "algorithms"),
        ({"algo": ["sha256"]}, "algo"),
    ],
)
def test_invalid_params_are_rejected(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        processor.load_params(params)
    assert field in caught.value.messages


def test_defaults_applied() -> None:
    assert processor.load_params({}) == {"algorithms": ["sha256"]}
    assert processor.load_params(None) == {"algorithms": ["sha256"]}
