"""The real Backdrop services for the client's tests: auth, upload and gateway served from
threads of the test process, one worker as a subprocess, on this session's PostgreSQL,
Redis and S3 (moto). Nothing of the API is mocked: the client talks HTTP to the real apps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from auth_service.app import create_app as create_auth
from auth_service.settings import AuthSettings
from backdrop_testing import infra
from backdrop_testing.plugin import LiveServer, s3_client
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from upload_service.app import create_app as create_upload
from upload_service.settings import UploadSettings

WORKER_BIN = Path(sys.executable).with_name("backdrop-worker")
MiB = 1024 * 1024
# Small enough that a test file of a few parts goes multipart (8 MiB parts), as a large
# file would in production (threshold 100 MiB there).
MULTIPART_THRESHOLD = 5 * MiB
AUTH: dict[str, Any] = {
    # Cheap hashing, and every test registers users from 127.0.0.1.
    "argon2_time_cost": 1,
    "argon2_memory_cost": 8,
    "argon2_parallelism": 1,
    "register_max_per_ip": 100_000,
    "register_max_global_per_minute": 100_000,
    # No grace for a reused refresh token: a client that spent one twice is caught at once.
    "refresh_reuse_grace_s": 0,
}


@dataclass
class Stack:
    """URLs of the running services; ``stop()`` ends them all."""

    gateway_url: str
    auth_url: str
    infra_env: dict[str, str]
    servers: list[LiveServer] = field(default_factory=list)
    worker: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """Stop the worker and the servers."""
        if self.worker is not None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        for server in self.servers:
            server.stop()

    def short_lived_auth(self, ttl_s: int) -> LiveServer:
        """Another auth server on the same database whose access tokens last ``ttl_s``
        (the gateway accepts them: both sign with the keys stored in the database)."""
        settings = AuthSettings(**self._common(), **AUTH, access_token_ttl=ttl_s)
        server = LiveServer(create_auth(settings))
        self.servers.append(server)
        return server

    def _common(self) -> dict[str, Any]:
        env = self.infra_env
        return {
            "env": "test",
            "database_url": env["BACKDROP_DATABASE_URL"],
            "redis_url": env["BACKDROP_REDIS_URL"],
            "s3_endpoint_url": env["BACKDROP_S3_ENDPOINT_URL"],
            "s3_bucket": env["BACKDROP_S3_BUCKET"],
        }


def start(infra_env: dict[str, str], log_dir: Path) -> Stack:
    """Start auth, upload, gateway and one worker; returns when the gateway is ready."""
    env = {**infra_env, "BACKDROP_S3_BUCKET": "client-tests"}
    s3_client(env["BACKDROP_S3_ENDPOINT_URL"]).create_bucket(Bucket="client-tests")
    gateway_port = infra.free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    stack = Stack(gateway_url, "", env)
    common = stack._common()
    try:
        auth = LiveServer(create_auth(AuthSettings(**common, **AUTH)))
        stack.servers.append(auth)
        stack.auth_url = auth.url
        upload_settings = UploadSettings(
            **common,
            auth_url=auth.url,
            public_url=gateway_url,
            multipart_threshold=MULTIPART_THRESHOLD,
        )
        upload = LiveServer(create_upload(upload_settings))
        stack.servers.append(upload)
        gateway_settings = GatewaySettings(
            **common,
            auth_url=auth.url,
            upload_url=upload.url,
            sse_keepalive_s=1.0,
            sse_block_ms=500,
        )
        stack.servers.append(LiveServer(create_gateway(gateway_settings), port=gateway_port))
        stack.worker = _start_worker(env, log_dir)
        _wait_ready(gateway_url)
    except BaseException:
        stack.stop()
        raise
    return stack


def _start_worker(env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    log = (log_dir / "worker.log").open("wb")
    return subprocess.Popen(
        [str(WORKER_BIN), "--worker-id", "client-tests"],
        env={**os.environ, **env, "BACKDROP_WORKER_HEALTH_PORT": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/readyz", timeout=3).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway at {url} never became ready")
        time.sleep(0.2)
