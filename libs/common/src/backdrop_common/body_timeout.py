"""A deadline on each read of a request body.

A client that declares more bytes than it sends would otherwise hold its connection, a
green thread and (on upload routes) an open multipart upload until it gives up. Under
gunicorn, the client socket gets ``body_read_timeout_s`` while the app runs; a read that
waits longer raises ``RequestTimeout`` (408 problem+json, no traceback), and the connection
is closed after the reply instead of being drained. The response itself is written without
the deadline, so slow readers of long streams (SSE) are not cut off by it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, TypeVar

from werkzeug.wsgi import ClosingIterator

from backdrop_common.errors import RequestTimeout

T = TypeVar("T")
WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class _TimedInput:
    """``wsgi.input`` whose socket timeouts become ``RequestTimeout``."""

    def __init__(self, stream: IO[bytes], timeout_s: float) -> None:
        self.stream, self.timeout_s = stream, timeout_s
        self.timed_out = False

    def _call(self, read: Callable[..., T], *args: Any) -> T:
        try:
            return read(*args)
        except TimeoutError as exc:  # socket.timeout
            self.timed_out = True
            raise RequestTimeout(
                f"The request body stalled for {self.timeout_s:g} s; send it at once."
            ) from exc

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (all when negative)."""
        return self._call(self.stream.read, -1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        """Read one line."""
        return self._call(self.stream.readline, -1 if size is None else size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Read the remaining lines."""
        return self._call(self.stream.readlines, -1 if hint is None else hint)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class BodyReadTimeout:
    """WSGI middleware applying the deadline (only under gunicorn, which exposes the socket)."""

    def __init__(self, app: WSGIApp, timeout_s: float) -> None:
        self.app, self.timeout_s = app, timeout_s

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Run the app with the deadline on the client socket's reads."""
        sock: socket.socket | None = environ.get("gunicorn.socket")
        if sock is None or self.timeout_s <= 0:
            return self.app(environ, start_response)
        timed = _TimedInput(environ["wsgi.input"], self.timeout_s)
        environ["wsgi.input"] = timed
        previous = sock.gettimeout()
        sock.settimeout(self.timeout_s)
        try:
            body = self.app(environ, start_response)
        finally:
            sock.settimeout(previous)

        def close_if_stalled() -> None:
            if timed.timed_out:  # gunicorn would wait for the rest of the body to discard it
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)

        return ClosingIterator(body, [close_if_stalled])
