"""SSE watchers for the fan-out phase: many EventSource-like clients in one gevent process.

    python sse_watchers.py URL PATH TOKEN CLIENTS TIMEOUT_S MAX_CONNECTIONS

Each watcher is a greenlet reading ``GET PATH`` with ``http.client`` on a cooperative socket.
It prints ``connected`` once every watcher has its first event, then one JSON line with
what each watcher received and when. A thousand watchers as threads of one process timed
mostly the interpreter: with no server at all, a thousand threads woken by one write each
took until p50 35 ms, p99 78 ms to get the GIL; greenlets of a process of their own take
their turns without that contention, and several such processes share the load.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import http.client  # noqa: E402 - after monkey-patching, so sockets cooperate
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
from dataclasses import asdict  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from sse_record import TERMINAL, Watcher  # noqa: E402


def _messages(watcher: Watcher, data: bytes, buf: bytes, at: float) -> tuple[bytes, bool]:
    """Record the complete SSE messages in ``buf + data``; (the rest, saw a terminal status)."""
    buf += data
    terminal = False
    while b"\n\n" in buf:
        raw, buf = buf.split(b"\n\n", 1)
        fields: dict[str, str] = {}
        for line in raw.decode().split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.lstrip(" ")
        if fields.get("retry", "").isdigit():
            watcher.retry_ms = int(fields["retry"])
        if "data" not in fields:
            continue
        status = str(json.loads(fields["data"]).get("status", ""))
        kind = fields.get("event", "message")
        watcher.events.append((fields.get("id", ""), kind, status, at))
        terminal = terminal or (kind == "status" and status in TERMINAL)
    return buf, terminal


def _read_stream(watcher: Watcher, url: str, path: str, token: str, timeout_s: float) -> bool:
    """One connection, read until the server ends it; True when a terminal status event
    arrived on it, False if the stream ended (or failed) before one."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if watcher.events:
        headers["Last-Event-ID"] = watcher.events[-1][0]
    watcher.connections += 1
    terminal = False
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        watcher.status_code = resp.status
        if resp.status != 200:
            watcher.error = f"HTTP {resp.status} {resp.read(300)!r}"
            return False
        buf = b""
        while True:
            data = resp.read1(65536)
            at = time.time()
            if not data:
                return terminal
            buf, ended = _messages(watcher, data, buf, at)
            if ended and not terminal:
                # The server ends the stream after a terminal status (API.md); a resumed
                # stream may first replay older events, so keep reading until it does.
                terminal = True
                if conn.sock is not None:
                    conn.sock.settimeout(10)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if not terminal:
            watcher.error = f"{type(exc).__name__}: {exc}"
        else:
            watcher.error = f"stream not closed after the terminal event: {type(exc).__name__}"
        return terminal
    finally:
        conn.close()


def watch(
    watcher: Watcher, url: str, path: str, token: str, timeout_s: float, max_connections: int
) -> None:
    """Watch like a browser's EventSource: when the stream ends before the terminal event,
    wait the server's ``retry:`` delay and resume with Last-Event-ID."""
    deadline = time.monotonic() + timeout_s
    while watcher.connections < max_connections and time.monotonic() < deadline:
        if _read_stream(watcher, url, path, token, timeout_s):
            return
        watcher.early_ends += 1
        gevent.sleep(watcher.retry_ms / 1000)


def main(argv: list[str]) -> None:
    """Run the watchers; ``connected`` when each has an event (or gave up), then the JSON."""
    url, path, token, count, timeout_s, max_connections = argv
    watchers = [Watcher(n) for n in range(int(count))]
    args = (url, path, token, float(timeout_s), int(max_connections))
    greenlets = [gevent.spawn(watch, w, *args) for w in watchers]
    all_in = Event()

    def announce() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(w.events or g.dead for w, g in zip(watchers, greenlets, strict=True)):
                break
            gevent.sleep(0.05)
        all_in.set()
        print("connected", flush=True)

    gevent.spawn(announce)
    gevent.joinall(greenlets)
    all_in.wait()
    print(json.dumps([asdict(w) for w in watchers]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
