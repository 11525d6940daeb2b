"""Streaming a request body into storage with bounded memory.

``PartSink`` buffers at most one part (plus the chunk being added) and uploads each full part
as it fills, so memory per upload stays near two parts whatever the file size. Small bodies
(under one part) become a single PUT; nothing is written until the first part is full.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from backdrop_common.errors import PayloadTooLarge, UploadInvalid, ValidationFailed
from backdrop_common.storage import Storage
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wsgi import LimitedStream

READ_SIZE = 64 * 1024
FORM_BUFFER = 1024 * 1024  # the form decoder's own buffer (headers, boundaries)


class PartSink:
    """Receives bytes, hashes them, and writes them to ``key`` part by part.

    One part uploads in the background while the next one fills (overlapping the client's
    and the store's latency); memory stays near two parts.
    """

    def __init__(
        self, storage: Storage, key: str, content_type: str, part_size: int, limit: int
    ) -> None:
        self.storage, self.key, self.content_type = storage, key, content_type
        self.part_size, self.limit = part_size, limit
        self.size = 0
        self.digest = hashlib.sha256()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self._buffer = bytearray()
        self._pool: ThreadPoolExecutor | None = None  # a greenlet under gevent
        self._pending: Future[str] | None = None

    def write(self, data: bytes) -> None:
        """Add ``data``; a full part is sent now. Over ``limit`` → ``PayloadTooLarge``."""
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(f"The body is larger than the declared {self.limit} bytes.")
        self.digest.update(data)
        self._buffer += data
        while len(self._buffer) >= self.part_size:
            with memoryview(self._buffer) as view:  # one copy of the part, not two
                part = bytes(view[: self.part_size])
            del self._buffer[: self.part_size]
            self._send(part)

    def _wait(self) -> None:
        if self._pending is not None:
            etag, self._pending = self._pending.result(), None
            self.parts.append({"part_number": len(self.parts) + 1, "etag": etag})

    def _send(self, data: bytes) -> None:
        self._wait()  # at most one part in flight
        if self.upload_id is None:
            self.upload_id = self.storage.create_multipart(self.key, self.content_type)
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="part")
        assert self._pool is not None
        number = len(self.parts) + 1
        self._pending = self._pool.submit(
            self.storage.upload_part, self.key, self.upload_id, number, data
        )

    def close(self) -> str:
        """Store what is left and assemble the object; returns the hex SHA-256."""
        try:
            if self.upload_id is None:
                self.storage.put_bytes(self.key, bytes(self._buffer), self.content_type)
            else:
                if self._buffer:
                    self._send(bytes(self._buffer))
                self._wait()
                self.storage.complete_multipart(self.key, self.upload_id, self.parts)
        finally:
            self._shutdown()
        return self.digest.hexdigest()

    def abort(self) -> None:
        """Drop everything written so far (no object, no open multipart upload left)."""
        self._buffer = bytearray()
        if self._pending is not None:
            with contextlib.suppress(Exception):
                self._pending.result()  # let it land, so the abort removes it too
            self._pending = None
        self._shutdown()
        if self.upload_id is not None:
            self.storage.abort_multipart(self.key, self.upload_id)
        self.storage.delete(self.key)

    def _shutdown(self) -> None:
        self._buffer = bytearray()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def body_stream(environ: dict[str, Any]) -> IO[bytes]:
    """The raw request body, never read past its end, never spooled.

    Read from ``wsgi.input`` directly so Flask's ``MAX_CONTENT_LENGTH`` (sized for JSON)
    does not apply; the caller enforces the task's own limit while streaming.
    """
    stream: IO[bytes] = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            return LimitedStream(stream, int(length))  # type: ignore[return-value]
        except ValueError as exc:
            raise ValidationFailed("Invalid Content-Length.") from exc
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if environ.get("wsgi.input_terminated") or chunked:
        return stream  # the server ends the stream (chunked decoding)
    return io.BytesIO(b"")


def raw_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """The body in chunks of at most 64 KiB."""
    while chunk := stream.read(READ_SIZE):
        yield chunk


def form_file_chunks(stream: IO[bytes], content_type: str) -> Iterator[bytes]:
    """The bytes of the form field ``file`` of a ``multipart/form-data`` body, as they arrive.

    Other fields are skipped without being kept; only the decoder's small buffer is held.
    """
    _, options = parse_options_header(content_type)
    boundary = options.get("boundary", "")
    if not boundary:
        raise ValidationFailed("The multipart body has no boundary.")
    decoder = MultipartDecoder(boundary.encode(), max_form_memory_size=FORM_BUFFER)
    in_file = found = False
    try:
        while True:
            chunk = stream.read(READ_SIZE)
            decoder.receive_data(chunk or None)
            event = decoder.next_event()
            while not isinstance(event, NeedData | Epilogue):
                if isinstance(event, File | Field):
                    in_file = event.name == "file" and not found
                    found = found or in_file
                elif isinstance(event, Data) and in_file:
                    if event.data:
                        yield event.data
                    in_file = event.more_data
                event = decoder.next_event()
            if isinstance(event, Epilogue) or not chunk:
                break
    except ValueError as exc:
        raise ValidationFailed("The multipart form could not be parsed.") from exc
    if not found:
        raise UploadInvalid("The form has no field named 'file'.")
