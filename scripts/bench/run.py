"""Backdrop benchmarks: the targets of issue 9, each beside a baseline measured in the same run.

    .venv/bin/python scripts/bench/run.py [--quick] [--only queue,api,...] [...]
    make bench BENCH_ARGS=--quick

Phases (``--only`` picks some):

  queue     jobs queued straight through the task store, drained by the default fleet, by
            Celery and by Dramatiq (their own virtualenv under .run/bench/venv), and by 1, 2
            and 4 worker processes (targets 1, 3, 9; no stack needed: bench-only database);
  api       wrk on ``GET /v1/tasks/{id}`` and ``GET /v1/tasks?limit=20`` vs a bare Flask
            route (target 5);
  dispatch  upload-complete -> claimed, also after 10 s idle (target 2; with ``queue`` too,
            the queue phase runs in the first idle task's 10 s, with the stack up and idle);
  e2e       8 clients, tiny checksum tasks through the public API, presigned POST (target 4);
  cancel    cancel -> cancelled for every built-in processor (target 6);
  sse       SSE fan-out: watchers of one task vs one watcher, gateway RSS (target 7);
  stream    ``PUT /v1/tasks/{id}/content`` vs boto3 straight to S3, with RSS;
  scale     the read path with 1,000,000 task rows vs 1,000, EXPLAIN (target 8; not part of
            ``--quick`` unless named in ``--only``: inserting the rows takes minutes).

The stack phases bring up a throw-away stack (``scripts/stack.py up --profile e2e --fresh``,
gateway on 127.0.0.1:18080) and always take it down again. Prints one table (figure, ours,
baseline, ratio, target, verdict), writes ``.run/bench/results.json`` and the table as
Markdown in ``.run/bench/results.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent))

import accounts
import stackctl
from bench_queue import bench_queue
from load_api import bench_api
from load_cancel import bench_cancel
from load_dispatch import DispatchBench
from load_fanout import bench_fanout
from load_processing import bench_processing
from load_scale import bench_scale
from load_streaming import bench_streaming, delete_prefix, s3_client
from report import Report, render_markdown, render_table, write_json

RESULTS = stackctl.ROOT / ".run" / "bench" / "results.json"
BUCKET = "backdrop"
MiB = 1024 * 1024
# The queue phase needs no stack and runs first, or, with the dispatch phase, between its
# two parts (``_run``). Cancel early (a freshly started stack is where the issue saw missed
# cancels); streaming late: its 512 MiB sits in the S3 stand-in's memory; scale last: it
# fills the stack's database.
PHASES = ("queue", "api", "dispatch", "e2e", "cancel", "sse", "stream", "scale")
NO_STACK = frozenset({"queue"})
NOT_QUICK = frozenset({"scale"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line; ``--quick`` changes the defaults of the size options and leaves out the
    scale phase (unless ``--only`` names it), the queue's 1/2/4-worker runs and its
    bytes-in-the-message baselines."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="about 70 s instead of about 10 minutes")
    p.add_argument(
        "--only", default=",".join(PHASES), help=f"phases to run (default all: {','.join(PHASES)})"
    )
    p.add_argument(
        "--jobs", type=int, help="queue-only jobs for the default fleet (10000; quick 500)"
    )
    p.add_argument(
        "--scale-jobs",
        type=int,
        help="queue-only jobs for 1, 2 and 4 workers (2000; not run with --quick)",
    )
    p.add_argument("--queue-timeout", type=float, default=600.0, help="longest wait for one drain")
    p.add_argument("--api-seconds", type=float, help="wrk duration per route (10; quick 3)")
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--wrk-connections", type=int, default=32)
    p.add_argument("--dispatch-tasks", type=int, help="tasks one at a time (100; quick 20)")
    p.add_argument("--idle-tasks", type=int, help="tasks after --idle-seconds idle (3; quick 1)")
    p.add_argument("--idle-seconds", type=float, default=10.0, help="idle before those (10)")
    p.add_argument("--tasks", type=int, help="e2e checksum tasks (400; quick 80)")
    p.add_argument("--task-bytes", type=int, default=1024, help="size of each e2e task (1024)")
    p.add_argument("--e2e-clients", type=int, default=8, help="e2e clients (8)")
    p.add_argument(
        "--cancel-tries", type=int, help="cancels per processor, gzip twice that (3; quick 1)"
    )
    p.add_argument("--stream-mib", type=int, help="body of the stream phase (512; quick 128)")
    p.add_argument("--sse-clients", type=int, help="SSE watchers (1000; quick 200)")
    p.add_argument("--sse-mib", type=int, help="checksum input of the sse phase (64; quick 32)")
    p.add_argument("--scale-rows", type=int, default=1_000_000, help="scale phase rows (1e6)")
    p.add_argument(
        "--wait-for-stack",
        type=float,
        default=300.0,
        help="seconds to wait for somebody else's e2e stack to stop before giving up (300)",
    )
    p.add_argument(
        "--takeover",
        action="store_true",
        help="do not wait: restart the e2e stack even if somebody else's is running",
    )
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    quick = args.quick
    args.api_seconds = args.api_seconds or (3.0 if quick else 10.0)
    args.tasks = args.tasks or (80 if quick else 400)
    args.dispatch_tasks = args.dispatch_tasks or (20 if quick else 100)
    args.idle_tasks = args.idle_tasks if args.idle_tasks is not None else (1 if quick else 3)
    args.cancel_tries = args.cancel_tries or (1 if quick else 3)
    args.sse_clients = args.sse_clients or (200 if quick else 1000)
    args.jobs = args.jobs or (500 if quick else 10000)
    args.scale_jobs = args.scale_jobs or 2000
    args.stream_mib = args.stream_mib or (128 if quick else 512)
    args.sse_mib = args.sse_mib or (32 if quick else 64)
    wanted = {x.strip() for x in args.only.split(",")}
    if quick and args.only == p.get_default("only"):
        wanted -= NOT_QUICK
    unknown = wanted - set(PHASES)
    if unknown:
        p.error(f"unknown phase(s) {sorted(unknown)}; choose from {','.join(PHASES)}")
    args.phases = [ph for ph in PHASES if ph in wanted]
    return args


def run_phase(report: Report, name: str, title: str, body: Callable[[], object]) -> None:
    """Run one phase; record 429/5xx answers (from the services' /metrics) and new log
    warnings as evidence; a phase that raises is reported and the next one still runs."""
    before = stackctl.request_counts()
    logs = stackctl.log_sizes()
    load = os.getloadavg()
    t0 = time.monotonic()
    try:
        body()
    except Exception as exc:
        report.problem(f"({name}) {title} aborted: {type(exc).__name__}: {exc}")
        traceback.print_exc()
    elapsed = time.monotonic() - t0
    after = stackctl.request_counts()
    bad = stackctl.bad_requests(before, after)
    lines = stackctl.new_log_lines(logs)
    phase: dict[str, object] = {
        "title": title,
        "seconds": elapsed,
        "loadavg_at_start": load,
        "status_429_or_5xx": bad,
        "responses": stackctl.served_between(before, after),
        "log_warnings": lines,
    }
    report.details.setdefault("phases", {})[name] = phase
    if accounts.RETRIED_503:
        report.note(
            f"({name}) retried {len(accounts.RETRIED_503)} POST /v1/tasks after 503 with the "
            f"same Idempotency-Key: {accounts.RETRIED_503[0]!r}"
        )
        accounts.RETRIED_503.clear()
    if accounts.CONNECTION_RESETS:
        report.note(
            f"({name}) {len(accounts.CONNECTION_RESETS)} client request(s) hit a reset "
            f"connection and were re-sent: {accounts.CONNECTION_RESETS[:3]}"
        )
        phase["client_connection_resets"] = list(accounts.CONNECTION_RESETS)
        accounts.CONNECTION_RESETS.clear()
    if bad:
        report.problem(f"({name}) {title}: services answered {bad}")
    if lines:
        report.problem(
            f"({name}) {title}: new warning/error log lines:\n    " + "\n    ".join(lines)
        )
    print(f"bench: ({name}) {title} took {elapsed:.1f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit status 0 when every phase ran (problems are reported, not fatal)."""
    args = parse_args(argv)
    report = Report()
    started = time.monotonic()
    started_at = datetime.now(UTC)

    # SIGTERM (e.g. a CI timeout) must still take the stack down: turn it into an exception.
    def _term(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _term)

    report.details["loadavg_before"] = os.getloadavg()
    # A run stops the S3 stand-in it started (a full run used to leave one of 450 MB behind),
    # on every way out: also after a Ctrl-C or a SIGTERM during the queue phase.
    stand_in = stackctl.StandIn()
    grown = stand_in.grown_mib()
    if grown is not None:
        report.note(
            f"the S3 stand-in found running holds {grown} MiB and may slow every phase; "
            "stop it (kill $(cat .run/infra/moto-19000.pid)) and run again for figures that count"
        )
    try:
        return _run(args, report, started, started_at, stand_in)
    finally:
        stand_in.stop_if_own()


def _run(
    args: argparse.Namespace,
    report: Report,
    started: float,
    started_at: datetime,
    stand_in: stackctl.StandIn,
) -> int:
    """The phases of ``main``; the stack is always taken down again."""
    base_url = stackctl.GATEWAY

    def queue_phase() -> None:
        subprocess.run([str(stackctl.ROOT / "scripts" / "infra.sh"), "19000"], check=True)
        bench_queue(report, args.jobs, args.scale_jobs, args.queue_timeout, full=not args.quick)

    stack_phases = [ph for ph in args.phases if ph not in NO_STACK]
    # With the dispatch phase, the queue phase runs in its 10 s of idle (the stack up and
    # idle: 0.13 s of its CPU in 10 s); otherwise first, before the stack is started.
    fold_queue = "queue" in args.phases and "dispatch" in stack_phases
    if "queue" in args.phases and not fold_queue:
        run_phase(report, "queue", "queue-only throughput", queue_phase)
    if not stack_phases:
        return finish(report, args, started, started_at, "not needed" + stand_in.stop_if_own())
    busy = stackctl.supervisord_pid() is not None and not args.takeover
    if busy and not stackctl.wait_until_free(args.wait_for_stack):
        print(
            "bench: somebody's e2e stack is still running; not taking it down. "
            "Retry later or pass --takeover.",
            file=sys.stderr,
        )
        stand_in.keep()  # that stack may be using the stand-in the queue phase started
        return 2
    own_pid: int | None = None
    stack_procs: list[tuple[int, str]] = []
    try:
        t_up = time.monotonic()
        own_pid = stackctl.up()
        stackctl.hold_stack()
        stack_procs = stackctl.stack_processes()
        report.details["stack_up_seconds"] = time.monotonic() - t_up
        phases: dict[str, tuple[str, Callable[[], object]]] = {}

        def phase_a() -> None:
            token, task_id = accounts.user_with_a_page(base_url, "benchapi")
            bench_api(
                report,
                base_url,
                token,
                task_id,
                args.api_seconds,
                args.wrk_threads,
                args.wrk_connections,
            )

        phases["api"] = ("API latency/throughput (wrk)", phase_a)
        dispatch = DispatchBench(base_url)
        phases["dispatch"] = (
            "dispatch latency, tasks one at a time",
            lambda: dispatch.warm(args.dispatch_tasks),
        )
        phases["queue"] = ("queue-only throughput", queue_phase)
        phases["dispatch_idle"] = (
            "dispatch latency after idle",
            lambda: dispatch.after_idle(report, args.idle_tasks, args.idle_seconds),
        )
        phases["e2e"] = (
            "end to end through the public API",
            lambda: bench_processing(
                report, base_url, args.tasks, args.task_bytes, args.e2e_clients
            ),
        )
        phases["cancel"] = (
            "cancel latency",
            lambda: bench_cancel(report, base_url, stackctl.S3, BUCKET, args.cancel_tries),
        )
        phases["sse"] = (
            "SSE fan-out",
            lambda: bench_fanout(
                report, base_url, args.sse_clients, args.sse_mib * MiB, stackctl.REDIS_URL
            ),
        )
        phases["stream"] = (
            "streaming upload",
            lambda: bench_streaming(report, base_url, args.stream_mib * MiB, stackctl.S3, BUCKET),
        )
        phases["scale"] = (
            "1,000,000 task rows",
            lambda: bench_scale(
                report,
                base_url,
                args.scale_rows,
                args.api_seconds,
                args.wrk_threads,
                args.wrk_connections,
            ),
        )
        order = []
        for name in stack_phases:  # PHASES' order; dispatch in two parts around queue
            order.append(name)
            if name == "dispatch":
                order += ["queue", "dispatch_idle"] if fold_queue else ["dispatch_idle"]
        for name in order:
            title, body = phases[name]
            if stackctl.supervisord_pid() != own_pid:
                report.problem("the e2e stack was replaced by someone else; stopping the bench")
                break
            run_phase(report, name, title, body)
    except KeyboardInterrupt as exc:
        report.problem(f"interrupted ({exc})")
    finally:
        try:
            s3 = s3_client(stackctl.S3)
            removed = sum(
                delete_prefix(s3, BUCKET, f"users/{u.user_id}/") for u in accounts.CREATED_USERS
            )
            report.details["s3_objects_removed"] = removed
        except Exception as exc:  # cleanup must not hide the results
            report.note(f"could not remove the bench's objects from the S3 stand-in: {exc}")
        try:
            accounts.close_clients()
        except Exception as exc:  # the stack must still be taken down
            report.note(f"could not close the bench's connections: {exc}")
        t_down = time.monotonic()
        teardown = stackctl.down(own_pid)
        stackctl.release_stack()
        report.details["stack_down_seconds"] = time.monotonic() - t_down
        leftovers = stackctl.still_alive(stack_procs)
        if leftovers:
            report.problem(f"processes of the stack still alive after teardown: {leftovers}")
        teardown += stand_in.stop_if_own()

    return finish(report, args, started, started_at, teardown)


def finish(
    report: Report, args: argparse.Namespace, started: float, started_at: datetime, teardown: str
) -> int:
    """Print the table, notes and problems; write the JSON."""
    duration = time.monotonic() - started
    print()
    print(render_table(report))
    print()
    for text in report.notes:
        print(f"note: {text}")
    if report.problems:
        print(f"{len(report.problems)} service problem(s), see above and {args.output}")
    meta = {
        "started_at": started_at.isoformat(),
        "duration_s": duration,
        "command": " ".join([".venv/bin/python", "scripts/bench/run.py", *sys.argv[1:]]),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "teardown": teardown,
    }
    write_json(report, args.output, meta)
    # The same table in Markdown, for the README's measured figures.
    args.output.with_suffix(".md").write_text(render_markdown(report) + "\n")
    print(f"bench: {duration:.0f}s in all; stack {teardown}; results in {args.output} (and .md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
