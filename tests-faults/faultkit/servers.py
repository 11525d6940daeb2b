"""PostgreSQL, Redis and S3 servers the fault suite owns, so it may stop, wipe or freeze them.

Never the machine's shared servers: each runs from a temporary directory on a free port.
PostgreSQL refuses to run as root, so as root its binaries run as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

PG_BIN = Path(os.environ.get("BACKDROP_PG_BIN", "/usr/lib/postgresql/15/bin"))
VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: object, timeout: float, what: str) -> None:
    """Call ``check()`` until it is truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout} s")
        time.sleep(0.05)


class PostgresCluster:
    """A throw-away PostgreSQL cluster (``initdb``) that can be stopped and started again."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.data = root / "pgdata"
        self.port = port or free_port()
        self.log = root / "postgres.log"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def init(self) -> None:
        """``initdb`` (trust auth, no fsync) and a first start."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chmod(self.root, 0o755)  # noqa: S103 - the postgres user must reach its files
            self.data.mkdir()
            os.chown(self.data, user.pw_uid, user.pw_gid)
            self.log.touch()
            os.chown(self.log, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()

    def start(self) -> None:
        """Start (or start again) on the same port; returns once it accepts connections."""
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        """Stop now (fast shutdown: every client connection is cut)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def schemas(self, dbname: str) -> set[str]:
        """The schemas of a database on this cluster."""
        import psycopg2

        conn = psycopg2.connect(self.url(dbname))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT nspname FROM pg_namespace")
                return {r[0] for r in cur.fetchall()}
        finally:
            conn.close()

    def url(self, dbname: str = "backdrop") -> str:
        """A DSN for ``dbname`` on this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def destroy(self) -> None:
        """Stop (if running) and remove the files."""
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A redis-server that keeps nothing on disk: a restart comes back empty."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The Redis URL (DB 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client with decoded responses."""
        return redis.Redis.from_url(self.url, decode_responses=True)

    def start(self) -> None:
        """Start on the port and wait for PONG."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=(self.root / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(lambda: self.client().ping(), 10, "Redis")

    def kill(self) -> None:
        """SIGKILL: the data is gone with the process."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


class MotoServer:
    """The S3 stand-in (moto), which can be frozen (SIGSTOP) and thawed."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The endpoint URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait until it answers."""
        import requests

        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=(self.root / "moto.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(lambda: requests.get(self.url, timeout=1).ok, 20, "moto")

    def pause(self) -> None:
        """Freeze the process: connections hang, nothing is refused."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop for good."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
