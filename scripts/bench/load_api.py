"""(a) API latency and throughput: wrk on /healthz (baseline) and on authenticated reads.

wrk is Debian's ``wrk`` package (installed with apt-get when missing). A Lua script sets the
Authorization header and prints the summary as one JSON line. When wrk cannot be had, a Python
thread-pool load generator does the same job (its figures are lower: it is the bottleneck).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import stackctl
from fleet import CpuWatch
from report import Report, Row, at_most, percentile, ratio_at_least

LUA = r"""
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,'
    .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"status_errors":%d,"connect_errors":%d,'
    .. '"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class LoadResult:
    """What one load run measured."""

    route: str
    tool: str
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    raw: dict[str, Any]

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.duration_s if self.duration_s else 0.0


def ensure_wrk(report: Report) -> str | None:
    """Path of wrk, installing Debian's package if needed; None (and a note) if impossible."""
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk missing; trying apt-get install wrk", flush=True)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=180)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, timeout=180)
    except (OSError, subprocess.SubprocessError) as exc:
        report.note(
            f"apt-get could not install wrk ({exc}); API figures come from the Python "
            "thread-pool load generator, which saturates long before the gateway does"
        )
        return None
    return shutil.which("wrk")


def run_wrk(
    wrk: str, url: str, route: str, token: str | None, seconds: float, threads: int, conns: int
) -> LoadResult:
    """One wrk run against ``url``; the Lua script's JSON line gives the figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA)
        script = fh.name
    try:
        env = {**os.environ, "BENCH_TOKEN": token or ""}
        done = subprocess.run(
            [
                wrk,
                f"-t{threads}",
                f"-c{conns}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                script,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            timeout=seconds + 60,
        )
    finally:
        Path(script).unlink(missing_ok=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {done.stdout[-500:]} {done.stderr[-500:]}")
    raw = json.loads(line[len("BENCHJSON ") :])
    errors = sum(
        raw[k]
        for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return LoadResult(
        route,
        "wrk",
        int(raw["requests"]),
        raw["duration_us"] / 1e6,
        raw["p50_us"] / 1000,
        raw["p99_us"] / 1000,
        errors,
        raw,
    )


def run_python(url: str, route: str, token: str | None, seconds: float, conns: int) -> LoadResult:
    """Fallback: ``conns`` threads, each a keep-alive session looping GETs for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(conns)]
    errors = [0] * conns
    stop_at = time.monotonic() + seconds

    def loop(n: int) -> None:
        http = requests.Session()
        if token:
            http.headers["Authorization"] = f"Bearer {token}"
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            try:
                ok = http.get(url, timeout=10).status_code < 400
            except requests.RequestException:
                ok = False
            latencies[n].append(time.perf_counter() - t0)
            errors[n] += 0 if ok else 1

    started = time.monotonic()
    pool = [threading.Thread(target=loop, args=(n,)) for n in range(conns)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    flat = [x for xs in latencies for x in xs]
    return LoadResult(
        route,
        "python-threads",
        len(flat),
        elapsed,
        (percentile(flat, 50) or 0) * 1000,
        (percentile(flat, 99) or 0) * 1000,
        sum(errors),
        {},
    )


def probe_failure(url: str, token: str | None) -> str:
    """One request to show what a failing route answers (for the problem report)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = requests.get(url, headers=headers, timeout=10)
    except requests.RequestException as exc:
        return f"probe: {type(exc).__name__}: {exc}"
    return f"probe: HTTP {resp.status_code} {resp.text[:200]!r}"


class BareFlask:
    """The baseline server: ``bare_app.py`` under the gateway's gunicorn settings."""

    PORT = 18099

    def __init__(self) -> None:
        env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{self.PORT}", "GUNICORN_WORKERS": "2"}
        gunicorn = stackctl.ROOT / ".venv" / "bin" / "gunicorn"
        conf = "python:backdrop_common.gunicorn_conf"
        here = str(Path(__file__).resolve().parent)
        self.proc = subprocess.Popen(  # the gateway's command, another app
            [str(gunicorn), "-c", conf, "--chdir", here, "bare_app:app"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.PORT}/task"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the bare Flask baseline did not start")

    def stop(self) -> None:
        """Stop the gunicorn master and its workers: SIGINT is gunicorn's quick shutdown
        (the load is over; a graceful one waits a second or more for nothing)."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)


@dataclass
class Measured:
    """One load run and the CPU microseconds per request it cost the server under load
    (``server_us``) and PostgreSQL (``postgres_us``: every backend, for a route that queries)."""

    result: LoadResult
    server_us: float | None
    postgres_us: float | None


def _measure(
    wrk: str | None, url: str, route: str, token: str | None, pid: int, args: tuple[float, int, int]
) -> Measured:
    """One load run and the server's and PostgreSQL's CPU microseconds per request during it."""
    seconds, threads, conns = args
    if wrk:
        run_wrk(wrk, url, route, token, 1, threads, conns)  # warm-up: connections, caches
    postgres = CpuWatch()  # after the warm-up: the backends of the pool's connections exist
    postgres.start()
    before = stackctl.group_cpu_seconds([pid])
    if wrk:
        result = run_wrk(wrk, url, route, token, seconds, threads, conns)
    else:
        result = run_python(url, route, token, seconds, conns)
    cpu = stackctl.group_cpu_seconds([pid]) - before
    spent = postgres.stop()["postgres"]

    def per_request(seconds_used: float) -> float | None:
        return seconds_used * 1e6 / result.requests if result.requests else None

    return Measured(result, per_request(cpu), per_request(spent))


def bench_api(
    report: Report,
    base_url: str,
    token: str,
    task_id: str,
    seconds: float,
    threads: int,
    conns: int,
) -> None:
    """Target 5: GET /v1/tasks/{id} and GET /v1/tasks?limit=20 against a bare Flask route
    under the same gunicorn settings, all in this run; also req/s and CPU per request."""
    wrk = ensure_wrk(report)
    gateway = stackctl.program_pid("gateway")
    bare = BareFlask()
    load = (seconds, threads, conns)
    try:
        bare_run = _measure(wrk, bare.url, "bare Flask", None, bare.proc.pid, load)
    finally:
        bare.stop()
    routes = [
        ("GET /v1/tasks/{id}", f"{base_url}/v1/tasks/{task_id}", token),
        ("GET /v1/tasks?limit=20", f"{base_url}/v1/tasks?limit=20", token),
        ("GET /healthz", f"{base_url}/healthz", None),
    ]
    runs = {"bare Flask": bare_run}
    for route, url, bearer in routes:
        print(f"bench: (api) {route} for {seconds:.0f}s, {conns} connections", flush=True)
        runs[route] = _measure(wrk, url, route, bearer, gateway, load)
        result = runs[route].result
        if result.errors:
            report.problem(
                f"(api) {route}: {result.errors} errors of {result.requests} requests under "
                f"load ({result.raw or 'python'}); {probe_failure(url, bearer)}"
            )
    base = bare_run.result
    report.details["api"] = {
        "tool": base.tool,
        "threads": threads,
        "connections": conns,
        "seconds": seconds,
        "runs": {
            k: m.result.__dict__
            | {
                "rps": m.result.rps,
                "cpu_us_per_request": m.server_us,
                "postgres_us_per_request": m.postgres_us,
            }
            for k, m in runs.items()
        },
    }
    label = "bare Flask JSON route, same gunicorn (gevent, 2 workers)"
    for route in ("GET /v1/tasks/{id}", "GET /v1/tasks?limit=20"):
        measured = runs[route]
        result = measured.result
        report.add(
            Row(
                "5 read path",
                f"{route} throughput",
                result.rps,
                "req/s",
                base.rps,
                label,
                goal=ratio_at_least(0.5),
            )
        )
        report.add(
            Row(
                "5 read path",
                f"{route} p99",
                result.p99_ms,
                "ms",
                base.p99_ms,
                label,
                goal=at_most(25.0),
            )
        )
        report.add(
            Row(
                "5 read path",
                f"{route} server CPU per request",
                measured.server_us,
                "us",
                bare_run.server_us,
                label,
                "gateway workers' CPU / requests; less noisy than req/s on a shared machine; "
                f"PostgreSQL's {measured.postgres_us or 0:.0f} us per request not included",
            )
        )
    health = runs["GET /healthz"]
    report.add(
        Row(
            "5 read path",
            "GET /healthz throughput (the shared app plumbing alone)",
            health.result.rps,
            "req/s",
            base.rps,
            label,
            f"CPU per request {health.server_us or 0:.0f} us",
        )
    )
