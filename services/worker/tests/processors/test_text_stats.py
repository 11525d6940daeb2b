"""Tests for the ``text-stats`` processor, checked against GNU ``wc``."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError
from worker.processors import ProcessorError
from worker.processors import streams as streams_module
from worker.processors.local import LocalContext
from worker.processors.text_stats import processor

MakeContext = Callable[..., LocalContext]
Run = Callable[..., dict[str, Any]]
Check = Callable[[LocalContext, int], None]
MakeText = Callable[..., str]


def wc(path: Path) -> dict[str, int]:
    """Lines, words, bytes and characters of ``path`` according to ``wc`` in a UTF-8 locale."""
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    out = subprocess.run(
        ["wc", "-l", "-w", "-m", "-c", str(path)], capture_output=True, check=True, env=env
    )
    lines, words, chars, size = (int(n) for n in out.stdout.split()[:4])
    return {"lines": lines, "words": words, "chars": chars, "bytes": size}


def test_ascii_file_matches_wc(
    make_context: MakeContext,
    run_processor: Run,
    check_progress: Check,
    make_text: MakeText,
    tmp_path: Path,
) -> None:
    text = make_text(3 * 1024 * 1024)
    path = tmp_path / "words.txt"
    path.write_text(text)
    ctx = make_context(processor, path, {"top": 5})

    result = run_processor(processor, ctx)

    expected = wc(path)
    assert {key: result[key] for key in expected} == expected
    assert result["encoding"] == "utf-8"
    counts = Counter(word.lower() for word in text.split())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]
    assert result["top_words"] == [list(item) for item in ranked]
    check_progress(ctx, path.stat().st_size)


def test_utf8_split_across_chunks_matches_wc(
    make_context: MakeContext,
    run_processor: Run,
    make_text: MakeText,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An odd chunk size puts chunk edges inside multi-byte characters and inside words.
    monkeypatch.setattr(streams_module, "CHUNK_SIZE", 4099)
    words = ["café", "naïve", "Straße", "日本語", "über", "ça", "žluťoučký", "κόσμε"]
    path = tmp_path / "utf8.txt"
    path.write_text(make_text(200_000, words) + "trailing", encoding="utf-8")
    ctx = make_context(processor, path, short_reads=1000)

    result = run_processor(processor, ctx)

    assert {key: result[key] for key in ("lines", "words", "chars", "bytes")} == wc(path)
    assert result["encoding"] == "utf-8"
    assert {word for word, _ in result["top_words"]} <= {w.lower() for w in words} | {"trailing"}


def test_latin1_file(
    make_context: MakeContext, run_processor: Run, make_text: MakeText, tmp_path: Path
) -> None:
    words = ["café", "naïve", "résumé", "déjà", "garçon", "Noël", "crème", "brûlée", "the"]
    text = make_text(50_000, words)
    path = tmp_path / "latin1.txt"
    path.write_bytes(text.encode("latin-1"))

    result = run_processor(processor, make_context(processor, path, {"top": 3}))

    assert result["encoding"] in {"cp1252", "iso8859-1", "iso8859-15"}
    assert result["bytes"] == result["chars"] == len(text)
    assert (result["lines"], result["words"]) == (text.count("\n"), len(text.split()))
    expected = Counter(word.lower() for word in text.split()).most_common(1)[0]
    assert result["top_words"][0] == list(expected)


def test_top_words_strip_punctuation_and_break_ties_alphabetically(
    make_context: MakeContext, run_processor: Run
) -> None:
    data = b"Zebra, apple! APPLE zebra mango. \xe2\x80\x9cmango\xe2\x80\x9d kiwi"
    result = run_processor(processor, make_context(processor, data, {"top": 3}))
    assert result["top_words"] == [["apple", 2], ["mango", 2], ["zebra", 2]]
    assert (result["words"], result["lines"]) == (7, 0)


def test_empty_file_is_all_zeros(
    make_context: MakeContext, run_processor: Run, check_progress: Check
) -> None:
    ctx = make_context(processor, b"")
    result = run_processor(processor, ctx)
    assert result == {
        "bytes": 0,
        "lines": 0,
        "words": 0,
        "chars": 0,
        "encoding": "utf-8",
        "top_words": [],
    }
    check_progress(ctx, 0)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10,
        b"plain text first\n" * 100 + b"\x00\x01\x02 binary tail",
        b"\xff\xd8\xff\xe0" + bytes(range(1, 256)) * 40,
    ],
    ids=["png-header", "nul-after-text", "undecodable"],
)
def test_binary_input_is_invalid_input(
    make_context: MakeContext, run_processor: Run, data: bytes
) -> None:
    with pytest.raises(ProcessorError) as caught:
        run_processor(processor, make_context(processor, data))
    assert caught.value.code == "invalid_input"


def test_truncated_utf8_at_the_end_is_invalid_input(
    make_context: MakeContext, run_processor: Run
) -> None:
    data = "déjà vu".encode() + "日".encode()[:2]
    with pytest.raises(ProcessorError) as caught:
        run_processor(processor, make_context(processor, data))
    assert caught.value.code == "invalid_input"


def test_utf16_with_bom(make_context: MakeContext, run_processor: Run) -> None:
    text = "one two\nthree café\n"
    result = run_processor(processor, make_context(processor, text.encode("utf-16")))
    assert (result["lines"], result["words"], result["chars"]) == (2, 4, len(text))
    assert result["encoding"] == "utf-16"


@pytest.mark.parametrize("params", [{"top": 0}, {"top": 1001}, {"top": "many"}, {"limit": 3}])
def test_invalid_params_are_rejected(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        processor.load_params(params)
    assert set(caught.value.messages) == set(params)


def test_defaults_applied() -> None:
    assert processor.load_params({}) == {"top": 10}
