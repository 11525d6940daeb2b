"""The gateway's CPU per request without gunicorn: its WSGI app called from eight greenlets.

    .venv/bin/python scripts/stack.py up --profile e2e
    .venv/bin/python scripts/bench/inprocess.py [--routes read,list,health,bare]
        [--requests 4000] [--against REV] [--pairs 4] [--instructions]

Each figure is one fresh process: gevent-patched with psycogreen as under gunicorn, the app
built with the running e2e gateway's environment (read from its process), warmed up, then
``--requests`` calls of one route timed by CPU time. ``bare`` is the bench's bare Flask
route (``bare_app``). A user with 20 tasks is made through the stack's API first.

With ``--against REV`` every route runs in pairs: the working tree and the libraries of git
revision ``REV`` (``libs/*/src`` of a ``git archive``, put first on ``PYTHONPATH``), the order
flipped each pair. Single runs differ by ±10 %, so compare pairs (docs/PERFORMANCE.md).

``--instructions`` counts what the timed loop executes with valgrind's callgrind instead of
timing it: the same figure again within 0.1 % whatever else the machine does, so one pair and
400 requests (its default) are enough (about 30 s per figure). It leaves out the kernel's side
of system calls and the cost of cache misses, so confirm a gain it shows with the timed pairs
or the bench.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GREENLETS = 8
ROUTES = ("read", "list", "health", "bare")


def _gateway_env() -> dict[str, str]:
    """The running e2e gateway's ``BACKDROP_*`` settings, with a pool small enough to fit
    beside the stack's own connections."""
    import stackctl  # the parent's only: imported before gevent's patching, ssl would be too

    raw = Path(f"/proc/{stackctl.program_pid('gateway')}/environ").read_bytes()
    pairs = (item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
    env = {k: v for k, v in pairs if k.startswith("BACKDROP_")}
    return {**env, "BACKDROP_DB_POOL_MAX": "8", "BACKDROP_DB_POOL_IDLE": "8"}


def _child(route: str, requests: int, token: str, task_id: str, counted: bool) -> None:
    """Time ``requests`` calls of ``route`` in this process and print CPU us per request;
    ``counted``: under callgrind, tell the parent when the warm-up is over and wait for it."""
    from gevent import monkey

    monkey.patch_all()
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()
    import gevent

    if route == "bare":
        from bare_app import app

        path, query = "/task", ""
    else:
        from gateway.app import create_app

        app = create_app()
        path, query = {
            "read": (f"/v1/tasks/{task_id}", ""),
            "list": ("/v1/tasks", "limit=20"),
            "health": ("/healthz", ""),
        }[route]
    statuses: list[str] = []

    def call() -> None:
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "18080", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:18080",
            "HTTP_AUTHORIZATION": f"Bearer {token}", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        }  # fmt: skip
        body: Any = app(environ, lambda status, _headers, _exc=None: statuses.append(status))
        b"".join(body)
        if hasattr(body, "close"):
            body.close()

    def loop(n: int) -> None:
        for _ in range(n):
            call()

    gevent.joinall([gevent.spawn(loop, requests // GREENLETS) for _ in range(GREENLETS)])
    if not all(status.startswith("200") for status in statuses):
        raise SystemExit(f"{route}: not every answer was 200 ({sorted(set(statuses))})")
    if counted:
        print("warm", flush=True)  # the parent turns callgrind's counting on, then answers
        sys.stdin.readline()
    started = time.process_time()
    gevent.joinall([gevent.spawn(loop, requests // GREENLETS) for _ in range(GREENLETS)])
    print(f"{(time.process_time() - started) * 1e6 / requests:.1f}", flush=True)
    if counted:
        sys.stdin.readline()  # counting is off again: what follows is not measured


def _old_libraries(rev: str, into: Path) -> str:
    """``libs/*/src`` of revision ``rev`` unpacked under ``into``, as a ``PYTHONPATH``."""
    import stackctl

    archive = subprocess.run(
        ["git", "-C", str(stackctl.ROOT), "archive", rev, "libs"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return os.pathsep.join(str(src) for src in sorted(into.glob("libs/*/src")))


def _measure(route: str, args: argparse.Namespace, env: dict[str, str]) -> float:
    cmd = [sys.executable, __file__, "--child", route, "--requests", str(args.requests)]
    if args.instructions:
        return _count(cmd, args.requests, env)
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=HERE)
    return float(done.stdout.strip().splitlines()[-1])


def _count(cmd: list[str], requests: int, env: dict[str, str]) -> float:
    """Thousands of instructions per request, counted by callgrind over the timed loop only
    (counting is off during the start-up and the warm-up)."""
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    valgrind.append("--callgrind-out-file=/dev/null")
    with (
        tempfile.TemporaryFile("w+") as report,  # a file, not a pipe nobody reads until the end
        subprocess.Popen(
            [*valgrind, *cmd, "--counted"], env=env, cwd=HERE, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=report,
        ) as child,
    ):  # fmt: skip
        assert child.stdin and child.stdout
        for switch in ("on", "off"):
            if not child.stdout.readline():  # "warm", then the timed loop's figure
                break  # the child ended early: its report says why
            subprocess.run(["callgrind_control", "-i", switch, str(child.pid)], check=True,
                           capture_output=True, timeout=120)  # fmt: skip
            child.stdin.write("\n")
            child.stdin.flush()
        child.wait()
        report.seek(0)
        text = report.read()
    found = re.search(r"Collected : (\d+)", text)
    if child.returncode or not found:
        raise SystemExit(f"callgrind failed ({child.returncode}):\n{text[-2000:]}")
    return int(found.group(1)) / requests / 1000


def main() -> None:
    """Parse the arguments; run as the parent (fixture, runs) or as one timed child."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--requests", type=int, help="per figure (4000; 400 with --instructions)")
    parser.add_argument("--against", metavar="REV", help="alternate with this git revision")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument(
        "--instructions", action="store_true",
        help="count instructions with callgrind instead of timing (repeatable; slow: 400 requests)",
    )  # fmt: skip
    parser.add_argument("--child", choices=ROUTES, help=argparse.SUPPRESS)
    parser.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requests is None:
        args.requests = 400 if args.instructions else 4000
    if args.child:
        token, task = os.environ["BENCH_TOKEN"], os.environ["BENCH_TASK"]
        _child(args.child, args.requests, token, task, args.counted)
        return
    import accounts
    import stackctl

    token, task_id = accounts.user_with_a_page(stackctl.GATEWAY, "benchinproc")
    env = {**os.environ, **_gateway_env(), "BENCH_TOKEN": token, "BENCH_TASK": task_id}
    routes = [r.strip() for r in args.routes.split(",")]
    unit = "thousand instructions" if args.instructions else "us of CPU"
    if not args.against:
        for route in routes:
            print(f"{route}: {_measure(route, args, env):.1f} {unit} per request", flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        old_env = {**env, "PYTHONPATH": _old_libraries(args.against, Path(tmp))}
        for route in routes:
            for pair in range(args.pairs):
                runs = [("new", env), ("old", old_env)]
                if pair % 2:
                    runs.reverse()  # each version goes first in every other pair
                figures = {name: _measure(route, args, run_env) for name, run_env in runs}
                print(
                    f"{route}: {args.against} {figures['old']:.1f}, working tree"
                    f" {figures['new']:.1f} {unit}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
