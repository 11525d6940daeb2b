"""Start, stop and inspect a local Backdrop stack (every service, on loopback).

    python scripts/stack.py up   [--profile dev|e2e] [--fresh]
    python scripts/stack.py down [--profile dev|e2e]
    python scripts/stack.py status [--profile dev|e2e]

Processes run under supervisord (PIDs, sockets and logs in ``.run/<profile>/``). ``up`` makes
sure PostgreSQL, Redis and the S3 stand-in answer (``scripts/infra.sh``), migrates both schemas
as the database's owner (``BACKDROP_DATABASE_URL``'s user) and grants the services' roles
(``deploy/docker/backdrop-migrate.py``, as compose and Kubernetes do), starts the services that
exist in this checkout, each connected as its own role (``backdrop_auth``, ``backdrop_tasks``)
with migrations at start off, and waits for each ``/readyz``. Both commands are idempotent.
The ``e2e`` profile uses other ports, database and Redis DB, so tests never touch a dev stack.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg2  # scripts/stack.py runs with .venv's Python (make up/down/status)
import psycopg2.extensions
import redis
from backdrop_common.dbroles import AUTH_ROLE, TASKS_ROLE, role_url
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass(frozen=True)
class Profile:
    """Ports and names of one stack."""

    name: str
    gateway: int
    auth: int
    upload: int
    s3: int
    worker_base: int
    sweeper: int
    database: str
    redis_db: int
    workers: int


PROFILES = {
    "dev": Profile("dev", 8080, 8081, 8082, 9000, 9100, 9099, "backdrop", 0, 2),
    "e2e": Profile("e2e", 18080, 18081, 18082, 19000, 19100, 19099, "backdrop_e2e", 6, 3),
    # The fault suite points it at its own PostgreSQL and Redis (BACKDROP_DATABASE_URL,
    # BACKDROP_REDIS_URL) and S3 stand-in (this port), which it stops and wipes at will.
    "faults": Profile("faults", 26080, 26081, 26082, 26900, 26100, 26099, "backdrop", 0, 3),
}
# Test processors (plugins) the workers of a test stack load, on their PYTHONPATH.
PLUGINS = {"e2e": ROOT / "tests-e2e" / "plugins", "faults": ROOT / "tests-faults" / "plugins"}


# The e2e suite and the bench register hundreds of users and open hundreds of streams from
# one loopback address; production's limits (see README, Security) would refuse them.
E2E_LIMITS = {
    "BACKDROP_REGISTER_MAX_PER_IP": "100000",
    "BACKDROP_REGISTER_MAX_GLOBAL_PER_MINUTE": "100000",
    "BACKDROP_LIVE_STREAMS_PER_USER": "1000",
    "BACKDROP_LIVE_STREAMS_PER_ADDRESS": "1000",
    # A replayed refresh token is only told from a parallel refresh after the grace window.
    "BACKDROP_REFRESH_REUSE_GRACE_S": "1",
}


def _env(p: Profile) -> dict[str, str]:
    base = {
        "BACKDROP_ENV": "development",
        "BACKDROP_DATABASE_URL": f"postgresql://127.0.0.1:5432/{p.database}",
        "BACKDROP_REDIS_URL": f"redis://127.0.0.1:6379/{p.redis_db}",
        "BACKDROP_AUTH_URL": f"http://127.0.0.1:{p.auth}",
        "BACKDROP_UPLOAD_URL": f"http://127.0.0.1:{p.upload}",
        "BACKDROP_PUBLIC_URL": f"http://127.0.0.1:{p.gateway}",
        "BACKDROP_S3_ENDPOINT_URL": f"http://127.0.0.1:{p.s3}",
        "BACKDROP_S3_BUCKET": "backdrop",
        "BACKDROP_PROXY_HOPS": "1",
        "GUNICORN_WORKERS": "2",
        # The gateway's /metrics wants this scrape token (or an operator's token).
        "BACKDROP_METRICS_TOKEN": f"{p.name}-metrics-token",
        # The owner migrates before the services start (``_migrate``); their roles could not.
        "BACKDROP_MIGRATE_ON_START": "false",
        **(E2E_LIMITS if p.name in PLUGINS else {}),
    }
    # The caller's environment wins, also over the keys set above (another PostgreSQL or
    # Redis via BACKDROP_DATABASE_URL / BACKDROP_REDIS_URL, BACKDROP_WORKER_CONCURRENCY...).
    base.update({k: v for k, v in os.environ.items() if k.startswith("BACKDROP_")})
    return base


def _database_as(p: Profile, role: str) -> str:
    """A supervisord ``environment`` entry: the stack's database URL with ``role`` as the user.

    The password is the one the owner's migration gave the role (``BACKDROP_DB_*_PASSWORD``;
    none by default: the local server trusts loopback).
    """
    env = _env(p)
    password = env.get(
        "BACKDROP_DB_AUTH_PASSWORD" if role == AUTH_ROLE else "BACKDROP_DB_TASKS_PASSWORD", ""
    )
    url = role_url(env["BACKDROP_DATABASE_URL"], role, password)
    return 'BACKDROP_DATABASE_URL="{}"'.format(url.replace("%", "%%"))


def _programs(p: Profile) -> dict[str, dict[str, str]]:
    gunicorn = f"{VENV_BIN}/gunicorn -c python:backdrop_common.gunicorn_conf"
    tasks_db = _database_as(p, TASKS_ROLE)
    programs: dict[str, dict[str, str]] = {}
    for name, module, port in (
        ("auth", "auth_service", p.auth),
        ("upload", "upload_service", p.upload),
        ("gateway", "gateway", p.gateway),
    ):
        if importlib.util.find_spec(f"{module}.app") is not None:
            database = _database_as(p, AUTH_ROLE) if name == "auth" else tasks_db
            programs[name] = {
                "command": f"{gunicorn} '{module}.app:create_app()'",
                "environment": f'GUNICORN_BIND="127.0.0.1:{port}",{database}',
                "health": f"http://127.0.0.1:{port}",
            }
    if (VENV_BIN / "backdrop-sweeper").exists():
        programs["sweeper"] = {
            "command": f"{VENV_BIN}/backdrop-sweeper",
            "environment": f'BACKDROP_SWEEPER_HEALTH_PORT="{p.sweeper}",{tasks_db}',
            "health": f"http://127.0.0.1:{p.sweeper}",
        }
    if (VENV_BIN / "backdrop-worker").exists():
        prefix = str(p.worker_base)[:-2]
        programs["worker"] = {
            "command": f"{VENV_BIN}/backdrop-worker",
            "environment": f'BACKDROP_WORKER_HEALTH_PORT="{prefix}%(process_num)02d",{tasks_db},'
            'BACKDROP_WORKER_ID="%(host_node_name)s-worker-%(process_num)d"'
            # Test stacks' workers also load test processors (plugins), e.g. e2e's ``gate``.
            + (f',PYTHONPATH="{PLUGINS[p.name]}"' if p.name in PLUGINS else ""),
            "numprocs": str(p.workers),
            "health": ",".join(f"http://127.0.0.1:{p.worker_base + i}" for i in range(p.workers)),
        }
    return programs


def _run_dir(p: Profile) -> Path:
    return ROOT / ".run" / p.name


def _write_config(p: Profile) -> Path:
    run = _run_dir(p)
    (run / "logs").mkdir(parents=True, exist_ok=True)
    env = ",".join(f'{k}="{v}"' for k, v in sorted(_env(p).items()))
    lines = [
        "[unix_http_server]",
        f"file={run}/supervisor.sock",
        "[supervisord]",
        f"logfile={run}/logs/supervisord.log",
        f"pidfile={run}/supervisord.pid",
        f"directory={ROOT}",
        f"environment={env}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{run}/supervisor.sock",
    ]
    for name, prog in _programs(p).items():
        numprocs = prog.get("numprocs", "1")
        lines += [
            f"[program:{name}]",
            f"command={prog['command']}",
            f"environment={prog['environment']}",
            f"numprocs={numprocs}",
            "process_name=%(program_name)s-%(process_num)d" if numprocs != "1" else "",
            f"stdout_logfile={run}/logs/%(program_name)s-%(process_num)d.log",
            "redirect_stderr=true",
            "stopsignal=TERM",
            "stopwaitsecs=30",
            "stopasgroup=true",
            "killasgroup=true",
            "autorestart=true",
            "startsecs=1",
        ]
    path = run / "supervisord.conf"
    path.write_text("\n".join(line for line in lines if line) + "\n")
    return path


def _supervisord_running(p: Profile) -> bool:
    pidfile = _run_dir(p) / "supervisord.pid"
    if not pidfile.exists():
        return False
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
        return True
    except (ProcessLookupError, ValueError):
        return False


def _ensure_database(p: Profile, fresh: bool) -> None:
    """Create the stack's database if missing (``fresh``: drop it and empty its Redis DB first).

    Both come from the stack's own URLs, host and port included, so an override pointing at
    another server is the one prepared.
    """
    env = _env(p)
    target = psycopg2.extensions.parse_dsn(env["BACKDROP_DATABASE_URL"])
    name = target.get("dbname") or p.database
    admin = psycopg2.connect(**{**target, "dbname": "postgres"})
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            if fresh:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                ))  # fmt: skip
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()
    if fresh:
        client = redis.Redis.from_url(env["BACKDROP_REDIS_URL"])
        try:
            client.flushdb()
        finally:
            client.close()


def _migrate(p: Profile) -> None:
    """Both schemas and the services' roles, as the owner: what compose's ``migrate`` runs.

    The bucket is left to the upload service (it creates it at start in development).
    """
    env = {
        **os.environ,
        **_env(p),
        "BACKDROP_MIGRATE_BUCKET": "0",
        "BACKDROP_MIGRATE_WAIT_S": "30",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # backdrop-auth
    }
    script = ROOT / "deploy" / "docker" / "backdrop-migrate.py"
    done = subprocess.run(
        [str(VENV_BIN / "python"), str(script)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"stack[{p.name}]: migration failed:\n{done.stdout}{done.stderr}")


def _wait_ready(p: Profile, timeout: float = 90.0) -> None:
    urls = [u for prog in _programs(p).values() for u in prog["health"].split(",")]
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        for url in list(pending):
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=3) as resp:  # noqa: S310
                    if resp.status == 200:
                        pending.remove(url)
            except (urllib.error.URLError, OSError):
                pass
        if pending:
            time.sleep(0.1)
    if pending:
        logs = _run_dir(p) / "logs"
        raise SystemExit(f"stack: not ready after {timeout:.0f}s: {pending}; see logs in {logs}")


def up(p: Profile, fresh: bool, ready_timeout: float = 90.0) -> None:
    """Start the stack (no-op for parts already running) and wait until it is ready."""
    subprocess.run([str(ROOT / "scripts" / "infra.sh"), str(p.s3)], check=True)
    if fresh and _supervisord_running(p):
        down(p)
    _ensure_database(p, fresh)
    _migrate(p)
    conf = _write_config(p)
    if not _supervisord_running(p):
        subprocess.run([str(VENV_BIN / "supervisord"), "-c", str(conf)], check=True)
    _wait_ready(p, ready_timeout)
    for name, prog in _programs(p).items():
        print(f"stack[{p.name}]: {name:8} ready at {prog['health']}")


def down(p: Profile) -> None:
    """Stop every process of the stack (the infrastructure servers stay up)."""
    if not _supervisord_running(p):
        print(f"stack[{p.name}]: not running")
        return
    conf = _run_dir(p) / "supervisord.conf"
    # "stop all" signals every program, then waits for them together; a shutdown alone
    # stops the programs one after another (about a second each).
    for command in ("stop", "all"), ("shutdown",):
        with contextlib.suppress(subprocess.TimeoutExpired):  # a wedged supervisord: go on
            subprocess.run(
                [str(VENV_BIN / "supervisorctl"), "-c", str(conf), *command],
                check=False,
                stdout=subprocess.DEVNULL,
                timeout=60,
            )
    for _ in range(150):
        if not _supervisord_running(p):
            print(f"stack[{p.name}]: stopped")
            return
        time.sleep(0.2)
    raise SystemExit(f"stack[{p.name}]: supervisord did not stop")


def status(p: Profile) -> None:
    """Print each process and its state."""
    if not _supervisord_running(p):
        print(f"stack[{p.name}]: not running")
        return
    conf = _run_dir(p) / "supervisord.conf"
    subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(conf), "status"], check=False)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="dev")
    parser.add_argument("--fresh", action="store_true", help="empty database and Redis DB first")
    parser.add_argument(
        "--ready-timeout", type=float, default=90.0, help="seconds to wait for every /readyz"
    )
    args = parser.parse_args()
    profile = PROFILES[args.profile]
    if args.command == "up":
        up(profile, args.fresh, args.ready_timeout)
    elif args.command == "down":
        down(profile)
    else:
        status(profile)


if __name__ == "__main__":
    sys.exit(main())
