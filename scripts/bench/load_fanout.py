"""Target 7: live progress fan-out: many SSE clients on one running task.

Every client connects before the upload, so each should see the whole event log that follows
its first (snapshot) event. Delivery latency = when a client read the terminal event minus the
task's ``finished_at`` (same machine, same clock). The event log itself is read from Redis
(``backdrop:events:<id>`` in the e2e Redis DB) to check that every client got every event.
Baseline: one client alone on an identical task.

The clients are greenlets in two gevent processes (``sse_watchers.py``) using ``http.client``
with ``read1`` (returns what has arrived, so an event is timed when its bytes land, not when
a read buffer fills).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from accounts import User, create_task, new_user, parse_time
from bodies import pattern_block
from report import Report, Row, at_most, percentile
from sse_record import Watcher
from stackctl import RssSampler, descendants, established_per_process, program_pid

ALGOS = ["sha256", "sha1", "md5", "blake2b"]
"""Every algorithm the checksum processor offers, so the task runs a few seconds."""
GATEWAY_PORT = 18080


WATCHER_PROCESSES = 2
"""gevent processes the watchers are spread over (``sse_watchers.py``), one per core."""
WATCHERS = Path(__file__).resolve().parent / "sse_watchers.py"


def _start_watchers(
    base_url: str, path: str, token: str, n_clients: int, timeout_s: float
) -> list[subprocess.Popen[str]]:
    """Start the watcher processes; return once every watcher has its first event."""
    k = min(WATCHER_PROCESSES, n_clients)
    shares = [n_clients // k + (1 if i < n_clients % k else 0) for i in range(k)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(WATCHERS), base_url, path, token, str(n), str(timeout_s), "20"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in shares
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "connected":
            raise RuntimeError("an SSE watcher process ended before its watchers connected")
    return procs


def _collect(procs: list[subprocess.Popen[str]], timeout_s: float) -> list[Watcher]:
    """Each process's report (one JSON line), as watchers numbered across processes."""
    clients: list[Watcher] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout_s)
        for record in json.loads(out.strip().splitlines()[-1]):
            record["events"] = [tuple(e) for e in record["events"]]
            clients.append(Watcher(**{**record, "n": len(clients)}))
    return clients


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
    logged_after_finish_ms: float | None
    """When Redis appended the last event (its id's time) after ``finished_at``: the part of
    the latency before the gateway could see the event."""

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
            "terminal_event_logged_after_finished_at_ms": self.logged_after_finish_ms,
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
    procs = _start_watchers(base_url, path, user.token, n_clients, timeout_s)
    gateway = descendants(program_pid("gateway"))
    per_worker = established_per_process(gateway, GATEWAY_PORT)
    block = pattern_block()
    data = (block * (size // len(block) + 1))[:size]
    client.post_form(created["upload"], data)
    del data
    client.upload_complete(task_id)
    task = client.wait(task_id, timeout=timeout_s)
    clients = _collect(procs, 60)
    connected = sum(1 for c in clients if c.events)
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
        (_id_key(log_ids[-1])[0] / 1000 - finished) * 1000 if log_ids else None,
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
