"""Moving bytes: presigned POST forms, multipart parts (resumable), streamed bodies."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import requests
from requests_toolbelt import MultipartEncoder

from backdrop_client.errors import StorageError, Unreachable

ProgressFn = Callable[[int], None]
"""Called with the number of bytes just sent."""
PartDone = Callable[[int, str], None]
"""Called with ``(part_number, etag)`` once storage has kept a part."""
Source = bytes | Path | BinaryIO
"""What can be uploaded: bytes in memory, a file path, or an open binary file."""
CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_size(source: Source) -> int:
    """The number of bytes ``source`` holds (a file object from its position to the end)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return len(source)
    if isinstance(source, Path):
        return source.stat().st_size
    here = source.tell()
    end = source.seek(0, io.SEEK_END)
    source.seek(here)
    return end - here


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[BinaryIO]:
    """``source`` as a readable binary file (a path is opened and closed again)."""
    if isinstance(source, Path):
        with source.open("rb") as fh:
            yield fh
    elif isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source)
    else:
        yield source


class CountingReader:
    """A file whose reads report how many bytes went out (for progress bars).

    ``len()`` is what is left to read, as both requests (Content-Length, taken before the
    first read) and requests-toolbelt's form encoder (which reads until it reaches 0) expect.
    """

    def __init__(self, fh: BinaryIO, size: int, on_bytes: ProgressFn | None) -> None:
        self._fh, self._left, self._on_bytes = fh, size, on_bytes

    def __len__(self) -> int:
        return self._left

    def read(self, n: int = -1) -> bytes:
        """Read from the file and report the count."""
        chunk = self._fh.read(n if n >= 0 else self._left)
        self._left = max(0, self._left - len(chunk)) if chunk else 0
        if chunk and self._on_bytes:
            self._on_bytes(len(chunk))
        return chunk


class SizedChunks:
    """Chunks from an iterable sent with a Content-Length (requests would use chunked)."""

    def __init__(self, chunks: Iterable[bytes], size: int, on_bytes: ProgressFn | None) -> None:
        self._chunks, self._size, self._on_bytes = chunks, size, on_bytes

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if self._on_bytes:
                self._on_bytes(len(chunk))
            yield chunk


def _send(http: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    try:
        resp = http.request(method, url, **kwargs)
    except requests.RequestException as exc:
        raise Unreachable.from_exception(url.split("?")[0], exc) from exc
    if resp.status_code >= 300:
        raise StorageError(resp.status_code, resp.text)
    return resp


def post_form(
    http: requests.Session,
    upload: Mapping[str, Any],
    source: Source,
    *,
    filename: str = "file",
    on_bytes: ProgressFn | None = None,
    timeout: float = 300.0,
) -> None:
    """Send ``source`` with a presigned POST form, streamed (never read whole into memory)."""
    fields = dict(upload["fields"])
    size = source_size(source)
    with open_source(source) as fh:
        reader = CountingReader(fh, size, on_bytes)
        form = MultipartEncoder({**fields, "file": (filename, reader, fields.get("Content-Type"))})
        _send(
            http,
            "POST",
            upload["url"],
            data=form,
            headers={"Content-Type": form.content_type},
            timeout=timeout,
        )


def put_parts(
    http: requests.Session,
    upload: Mapping[str, Any],
    source: Source,
    *,
    stored: Mapping[int, str] | None = None,
    on_bytes: ProgressFn | None = None,
    on_part: PartDone | None = None,
    timeout: float = 300.0,
) -> list[dict[str, Any]]:
    """PUT each part of a MULTIPART upload; parts in ``stored`` (number → ETag) are skipped.

    Returns every part as ``[{part_number, etag}]`` for ``upload-complete``. Each part is
    read only when its turn comes, so memory holds one part at a time.
    """
    stored = dict(stored or {})
    part_size, size = int(upload["part_size"]), source_size(source)
    parts: list[dict[str, Any]] = []
    with open_source(source) as fh:
        start = fh.tell()
        for part in upload["parts"]:
            number = int(part["part_number"])
            if number in stored:  # kept by storage before an interruption: not sent again
                if on_bytes:
                    on_bytes(max(0, min(part_size, size - (number - 1) * part_size)))
                parts.append({"part_number": number, "etag": stored[number]})
                continue
            fh.seek(start + (number - 1) * part_size)
            data = fh.read(part_size)
            resp = _send(http, "PUT", part["url"], data=data, timeout=timeout)
            etag = resp.headers["ETag"]
            if on_bytes:
                on_bytes(len(data))
            if on_part:
                on_part(number, etag)
            parts.append({"part_number": number, "etag": etag})
    return parts
