"""``text-stats``: ``wc``-style counts and the most frequent words, decoded incrementally."""

from __future__ import annotations

import codecs
import heapq
import itertools
import string
from collections import Counter
from typing import Any

from backdrop_common.processor_params import BUILTINS

from worker.processors.api import Processor, ProcessorContext, ProcessorError
from worker.processors.encoding import decode_error, detect_encoding
from worker.processors.streams import iter_chunks

MAX_WORD_LENGTH = 100
"""Longer words are counted but never ranked, which also bounds the carried-over text."""

MAX_DISTINCT_WORDS = 200_000
"""Distinct words kept for ranking; beyond it the rarest half is dropped (bounded memory)."""

# Typographic quotes, guillemets, ellipsis, dashes and inverted marks, besides ASCII ones.
_EDGE_PUNCTUATION = (
    string.punctuation + "\u201c\u201d\u2018\u2019\u00ab\u00bb\u201e\u2026\u2013\u2014\u00a1\u00bf"
)


class WordStats:
    """Running counts over decoded text fed in arbitrary pieces."""

    def __init__(self) -> None:
        self.lines = 0
        self.words = 0
        self.chars = 0
        self.counts: Counter[str] = Counter()
        self._carry = ""

    def feed(self, text: str) -> None:
        """Count one piece of text; a word cut at the end is carried to the next piece."""
        if "\x00" in text:
            raise ProcessorError("invalid_input", "the file is binary (it contains NUL bytes)")
        self.chars += len(text)
        self.lines += text.count("\n")
        joined = self._carry + text
        tokens = joined.split()
        carry = tokens.pop() if tokens and not joined[-1].isspace() else ""
        self._carry = carry[: MAX_WORD_LENGTH + 1]
        self._count(tokens)

    def finish(self) -> None:
        """Count the word still carried at the end of the input."""
        if self._carry:
            self._count([self._carry])
            self._carry = ""

    def top(self, n: int) -> list[list[Any]]:
        """The ``n`` most frequent words as ``[word, count]``, ties broken alphabetically."""
        best = heapq.nsmallest(n, self.counts.items(), key=lambda item: (-item[1], item[0]))
        return [[word, count] for word, count in best]

    def _count(self, tokens: list[str]) -> None:
        self.words += len(tokens)
        for token in tokens:
            if len(token) > MAX_WORD_LENGTH:
                continue
            word = token.lower().strip(_EDGE_PUNCTUATION)
            if word:
                self.counts[word] += 1
        if len(self.counts) > MAX_DISTINCT_WORDS:
            self.counts = Counter(dict(self.counts.most_common(MAX_DISTINCT_WORDS // 2)))


def run(ctx: ProcessorContext) -> dict[str, Any]:
    """Count bytes, lines, words and characters and rank words; binary input is rejected."""
    chunks = iter_chunks(ctx, "counting")
    first = next(chunks, b"")
    encoding = detect_encoding(first)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    stats = WordStats()
    total = 0
    try:
        for chunk in itertools.chain((first,), chunks):
            stats.feed(decoder.decode(chunk))
            total += len(chunk)
        stats.feed(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise decode_error(encoding, total + exc.start) from None
    stats.finish()
    return {
        "bytes": total,
        "lines": stats.lines,
        "words": stats.words,
        "chars": stats.chars,
        "encoding": encoding,
        "top_words": stats.top(ctx.params["top"]),
    }


SPEC = BUILTINS["text-stats"]
processor = Processor(SPEC.name, SPEC.description, SPEC.params_schema, run)
