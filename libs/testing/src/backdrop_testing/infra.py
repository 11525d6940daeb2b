"""Reaching (or starting) the real servers tests talk to: PostgreSQL, Redis, an S3 server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import redis
import requests
from psycopg2 import sql

PG_ADMIN_DSN = os.environ.get("BACKDROP_TEST_PG_ADMIN", "postgresql://127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("BACKDROP_TEST_REDIS", "redis://127.0.0.1:6379")


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dsn_for(dbname: str) -> str:
    """The admin DSN with its database swapped for ``dbname``."""
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{dbname}"


def postgres_reachable() -> bool:
    """True when the admin DSN answers."""
    try:
        psycopg2.connect(PG_ADMIN_DSN, connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


def recreate_database(dbname: str) -> str:
    """Drop and create ``dbname``; return its DSN."""
    conn = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    finally:
        conn.close()
    return dsn_for(dbname)


def drop_database(dbname: str) -> None:
    """Drop ``dbname`` (terminating its connections)."""
    conn = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
    finally:
        conn.close()


def redis_reachable() -> bool:
    """True when Redis answers PING."""
    try:
        return bool(redis.Redis.from_url(REDIS_BASE, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


class S3Server:
    """A moto S3 server in a child process on a free loopback port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log_dir / f"moto-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        moto = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 20.0) -> None:
        """Block until the server answers HTTP."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                requests.get(self.url, timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        """Terminate the server."""
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


RGW_SCRIPT = Path(__file__).resolve().parents[4] / "scripts" / "rgw.sh"


def rgw_installed() -> bool:
    """True when Ceph's RADOS Gateway and the daemons it needs are installed."""
    return all(shutil.which(name) for name in ("radosgw", "ceph-mon", "ceph-osd"))


class RGWServer:
    """A one-node Ceph cluster with its RADOS Gateway (``scripts/rgw.sh``) in ``cluster_dir``.

    Unlike moto it checks signatures, expiry, key scope and POST policies. About 3 s to start.
    """

    def __init__(self, cluster_dir: Path) -> None:
        self.cluster_dir = cluster_dir
        try:
            done = subprocess.run(
                [str(RGW_SCRIPT), "start", str(cluster_dir)],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"RGW did not start:\n{exc.stderr}") from exc
        self.url = done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        """Stop the daemons and remove the cluster's directory."""
        subprocess.run([str(RGW_SCRIPT), "stop", str(self.cluster_dir)], timeout=60, check=False)


def stalled_put(
    base_url: str, path: str, headers: dict[str, str], declared: int
) -> tuple[bytes, float]:
    """PUT a body that declares ``declared`` bytes but sends 10, then waits; returns the
    whole reply (read until the server closes the connection) and the seconds it took."""
    head = f"PUT {path} HTTP/1.1\r\nHost: backdrop\r\nContent-Length: {declared}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    host, port = base_url.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + b"x" * 10)
        started = time.monotonic()
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply, time.monotonic() - started
