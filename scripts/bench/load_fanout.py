"""Target 7: live progress fan-out: many SSE clients on one running task.

Every client connects before the upload, so each should see the whole event log that follows
its first (snapshot) event. Delivery latency = when a client read the terminal event minus the
task's ``finished_at`` (same machine, same clock). The event log itself is read from Redis
(``backdrop:events:<id>`` in the e2e Redis DB) to check that every client got every event.
Baseline: one client alone on an identical task.

The clients are threads using ``http.client`` with ``read1`` (returns what has arrived, so an
event is timed when its bytes land, not when a read buffer fills).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import redis
from accounts import User, create_task, new_user, parse_time
from backdrop_client import TERMINAL
from bodies import pattern_block
from report import Report, Row, at_most, percentile
from stackctl import RssSampler, descendants, established_per_process, program_pid

ALGOS = ["sha256", "sha1", "md5", "blake2b"]
"""Every algorithm the checksum processor offers, so the task runs a few seconds."""
GATEWAY_PORT = 18080


@dataclass
class Client:
    """One SSE watcher: what it received and when."""

    n: int
    events: list[tuple[str, str, str, float]] = field(default_factory=list)
    """(id, event, task status, receive time) per event."""
    connected: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    """The last connection error (an HTTP error status or an exception)."""
    status_code: int | None = None
    connections: int = 0
    early_ends: int = 0
    """Streams that ended (or failed) before the terminal event, each followed by a resume."""
    retry_ms: int = 2000
    """Reconnection delay (the server's ``retry:`` field; EventSource's usual default)."""

    @property
    def first_terminal_on_first_stream(self) -> bool:
        """Whether the first connection alone delivered the terminal event."""
        return self.early_ends == 0 and self.terminal_at is not None

    @property
    def terminal_at(self) -> float | None:
        """When the terminal status event arrived."""
        for _, kind, status, at in self.events:
            if kind == "status" and status in TERMINAL:
                return at
        return None


def _read_stream(client: Client, base_url: str, path: str, token: str, timeout_s: float) -> bool:
    """One connection, read until the server ends it; True when a terminal status event
    arrived on it, False if the stream ended (or failed) before one."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if client.events:
        headers["Last-Event-ID"] = client.events[-1][0]
    client.connections += 1
    terminal = False
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        client.status_code = resp.status
        if resp.status != 200:
            client.error = f"HTTP {resp.status} {resp.read(300)!r}"
            return False
        buf = b""
        while True:
            data = resp.read1(65536)
            at = time.time()
            if not data:
                return terminal
            buf += data
            while b"\n\n" in buf:
                raw, buf = buf.split(b"\n\n", 1)
                fields: dict[str, str] = {}
                for line in raw.decode().split("\n"):
                    if line and not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.lstrip(" ")
                if fields.get("retry", "").isdigit():
                    client.retry_ms = int(fields["retry"])
                if "data" not in fields:
                    continue
                status = str(json.loads(fields["data"]).get("status", ""))
                kind = fields.get("event", "message")
                client.events.append((fields.get("id", ""), kind, status, at))
                client.connected.set()
                if kind == "status" and status in TERMINAL and not terminal:
                    # The server ends the stream after a terminal status (API.md); a resumed
                    # stream may first replay older events, so keep reading until it does.
                    terminal = True
                    if conn.sock is not None:
                        conn.sock.settimeout(10)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if not terminal:
            client.error = f"{type(exc).__name__}: {exc}"
        else:
            client.error = f"stream not closed after the terminal event: {type(exc).__name__}"
        return terminal
    finally:
        conn.close()


def _watch(
    client: Client, base_url: str, path: str, token: str, timeout_s: float, max_connections: int
) -> None:
    """Watch like a browser's EventSource: when the stream ends before the terminal event,
    wait the server's ``retry:`` delay and resume with Last-Event-ID."""
    deadline = time.monotonic() + timeout_s
    try:
        while client.connections < max_connections and time.monotonic() < deadline:
            if _read_stream(client, base_url, path, token, timeout_s):
                return
            client.early_ends += 1
            time.sleep(client.retry_ms / 1000)
    finally:
        client.connected.set()


def _stream_ids(task_id: str, redis_url: str) -> list[str]:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        entries: list[tuple[str, Any]] = r.xrange(f"backdrop:events:{task_id}")  # type: ignore[assignment]
        return [str(eid) for eid, _ in entries]
    finally:
        r.close()


def _id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class FanoutRun:
    """One fan-out measurement."""

    clients: int
    connected: int
    latencies_ms: list[float]
    complete: int
    first_stream_terminal: int
    reconnected_clients: int
    early_ends: int
    errors: list[str]
    events_in_log: int
    task_status: str
    run_seconds: float
    streams_per_gateway_process: dict[int, int]

    def summary(self) -> dict[str, Any]:
        """For results.json."""
        return {
            "clients": self.clients,
            "connected": self.connected,
            "got_terminal": len(self.latencies_ms),
            "got_terminal_on_first_stream": self.first_stream_terminal,
            "clients_that_had_to_reconnect": self.reconnected_clients,
            "streams_ended_before_terminal": self.early_ends,
            "got_every_event": self.complete,
            "events_in_log": self.events_in_log,
            "task_status": self.task_status,
            "task_run_seconds": self.run_seconds,
            "terminal_latency_ms": {
                "p50": percentile(self.latencies_ms, 50),
                "p99": percentile(self.latencies_ms, 99),
                "max": max(self.latencies_ms, default=None),
            },
            "streams_per_gateway_process": self.streams_per_gateway_process,
            "errors": self.errors[:5],
        }


def fanout_once(
    base_url: str, user: User, n_clients: int, size: int, redis_url: str, timeout_s: float
) -> FanoutRun:
    """Create a checksum task, connect ``n_clients`` watchers, upload, wait, measure."""
    client = user.client
    created = create_task(client, size, filename="fanout.bin", params={"algorithms": ALGOS})
    task_id = str(created["task"]["id"])
    path = f"/v1/tasks/{task_id}/events"
    clients = [Client(n) for n in range(n_clients)]
    threads = [
        threading.Thread(
            target=_watch, args=(c, base_url, path, user.token, timeout_s, 20), daemon=True
        )
        for c in clients
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for c in clients:
        c.connected.wait(max(0.0, deadline - time.monotonic()))
    connected = sum(1 for c in clients if c.events)
    gateway = descendants(program_pid("gateway"))
    per_worker = established_per_process(gateway, GATEWAY_PORT)
    block = pattern_block()
    data = (block * (size // len(block) + 1))[:size]
    client.post_form(created["upload"], data)
    del data
    client.upload_complete(task_id)
    task = client.wait(task_id, timeout=timeout_s)
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    finished = parse_time(task["finished_at"]) or time.time()
    started = parse_time(task.get("started_at")) or finished
    log_ids = _stream_ids(task_id, redis_url)
    latencies, complete, errors = [], 0, []
    for c in clients:
        if c.error:
            errors.append(f"client {c.n}: {c.error}")
        at = c.terminal_at
        if at is not None:
            latencies.append((at - finished) * 1000)
        if not c.events:
            continue
        first = _id_key(c.events[0][0]) if c.events[0][0] else (0, 0)
        expected = {i for i in log_ids if _id_key(i) > first}
        got = {eid for eid, _, _, _ in c.events[1:]}
        if at is not None and expected <= got:
            complete += 1
        elif len(errors) < 10:
            errors.append(
                f"client {c.n} missed {sorted(expected - got)} "
                f"(got {[e[:3] for e in c.events]}, {c.connections} connections)"
            )
    return FanoutRun(
        n_clients,
        connected,
        latencies,
        complete,
        sum(1 for c in clients if c.first_terminal_on_first_stream),
        sum(1 for c in clients if c.early_ends),
        sum(c.early_ends for c in clients),
        errors,
        len(log_ids),
        str(task["status"]),
        finished - started,
        per_worker,
    )


def bench_fanout(report: Report, base_url: str, n_clients: int, size: int, redis_url: str) -> None:
    """Baseline with one client, then ``n_clients`` at once; add rows to ``report``."""
    user = new_user(base_url, "benchsse")
    mib = size // (1024 * 1024)
    print(
        f"bench: (sse) SSE fan-out: 1 client, then {n_clients}, on a {mib} MiB checksum", flush=True
    )
    base = fanout_once(base_url, user, 1, size, redis_url, 180)
    # The gateway's RSS (master and workers) is sampled for the whole many-watchers run.
    rss = RssSampler({"gateway": descendants(program_pid("gateway"))})
    rss.start()
    try:
        many = fanout_once(base_url, user, n_clients, size, redis_url, 180)
    finally:
        rss.stop()
    gateway = rss.series["gateway"]
    report.details["fanout"] = {
        "baseline": base.summary(),
        "many": many.summary(),
        "gateway_rss_kib": {"first": gateway.first_total, "peak": gateway.peak_total},
    }
    for run in (base, many):
        if run.task_status != "succeeded":
            report.problem(f"(sse) the fan-out task ended {run.task_status}")
    if (
        many.errors
        or many.early_ends
        or many.connected < n_clients
        or len(many.latencies_ms) < n_clients
    ):
        report.problem(
            f"(sse) {n_clients} SSE clients on GET /v1/tasks/{{id}}/events: {many.connected} "
            f"connected; {many.reconnected_clients} clients saw {many.early_ends} streams end "
            f"before the terminal event (HTTP 200, then end of body) and resumed with "
            f"Last-Event-ID after the server's retry delay; "
            f"{many.first_stream_terminal} got the terminal event on their first stream, "
            f"{len(many.latencies_ms)} in the end; open streams per gateway process (pid: n) "
            f"{many.streams_per_gateway_process}; errors: {many.errors[:3]}"
        )
    label = "1 client alone, identical task"
    for name, pct in (("p50", 50), ("p99", 99)):
        report.add(
            Row(
                "7 sse",
                f"{n_clients} clients: finished_at -> terminal event {name}",
                percentile(many.latencies_ms, pct),
                "ms",
                percentile(base.latencies_ms, pct),
                label,
                "incl. EventSource-style resumes" if many.early_ends else "",
                goal=at_most(100.0, strict=True) if pct == 99 else None,
            )
        )
    report.add(
        Row(
            "7 sse",
            f"gateway RSS (master + workers), peak while {n_clients} clients were connected",
            gateway.peak_total * 1024 / 1e6,
            "MB",
            gateway.first_total * 1024 / 1e6,
            "the same before they connected",
            goal=at_most(300.0, strict=True),
        )
    )
    report.add(
        Row(
            "7 sse",
            f"clients that got every event (of {n_clients})",
            float(many.complete),
            "clients",
            float(n_clients),
            "clients started",
            f"log had {many.events_in_log} events; task ran {many.run_seconds:.1f}s",
        )
    )
    report.add(
        Row(
            "7 sse",
            "clients whose first stream delivered the terminal event",
            float(many.first_stream_terminal),
            "clients",
            float(n_clients),
            "clients started",
            f"{many.early_ends} streams ended early" if many.early_ends else "",
        )
    )
