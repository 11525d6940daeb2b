"""Pytest fixtures giving every Backdrop suite real PostgreSQL, Redis and S3 servers.

Each suite gets its own database (``backdrop_test_<suite>_<pid>``, dropped afterwards) and
its own Redis DB number, flushed around every test. When a server is missing the tests are
skipped locally and fail in CI (``CI`` set), so a broken CI machine cannot pass silently.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from botocore.config import Config
from werkzeug.serving import make_server

from backdrop_testing import infra
from backdrop_testing.tokens import TokenMinter

# Suites build hundreds of short-lived apps; connections their pools keep idle would stay open
# until the garbage collector frees each app and exhaust PostgreSQL's connection limit. Apps
# in tests therefore keep none (the pool itself is tested in libs/common).
os.environ.setdefault("BACKDROP_DB_POOL_IDLE", "0")

# One Redis DB per suite, so suites running side by side do not see each other's keys.
REDIS_DB = {
    "common": 1,
    "auth": 2,
    "gateway": 3,
    "upload": 4,
    "worker": 5,
    "tests-e2e": 7,
    "client": 9,
    "sweeper": 10,
}


def _suite(config: pytest.Config) -> str:
    for arg in [*config.args, str(config.invocation_params.dir)]:
        parts = Path(os.path.abspath(arg)).parts
        for anchor in ("services", "libs"):
            if anchor in parts and parts.index(anchor) + 1 < len(parts):
                return parts[parts.index(anchor) + 1]
        if "tests-e2e" in parts:
            return "tests-e2e"
    return "misc"


def _need(ok: bool, what: str) -> None:
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(
            f"{what} is not reachable and CI is set: the machine is not set up", pytrace=False
        )
    pytest.skip(f"{what} is not reachable")


@pytest.fixture(scope="session")
def suite_name(pytestconfig: pytest.Config) -> str:
    """The suite being run (``auth``, ``gateway``, ``common``, ...)."""
    return _suite(pytestconfig)


@pytest.fixture(scope="session")
def database_url(suite_name: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session."""
    _need(infra.postgres_reachable(), "PostgreSQL")
    name = f"backdrop_test_{suite_name.replace('-', '_')}_{os.getpid()}"
    dsn = infra.recreate_database(name)
    yield dsn
    infra.drop_database(name)


@pytest.fixture(scope="session")
def redis_url(suite_name: str) -> str:
    """The Redis URL (own DB number) for this suite."""
    _need(infra.redis_reachable(), "Redis")
    return f"{infra.REDIS_BASE}/{REDIS_DB.get(suite_name, 8)}"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A Redis client on the suite's DB, flushed before and after the test."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of a real S3 server (moto_server) in a child process."""
    server = infra.S3Server(tmp_path_factory.mktemp("s3"))
    try:
        server.wait()
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A new, empty bucket for one test."""
    name = f"bd-test-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server).create_bucket(Bucket=name)
    return name


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for a test server (moto's or RGW's: the same credentials)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="backdrop",
        aws_secret_access_key="backdrop-secret",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="session")
def real_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of an S3 server that enforces what Backdrop signs: Ceph's RADOS
    Gateway on a one-node cluster started once per test session (``scripts/rgw.sh``), or
    the running server named by ``BACKDROP_TEST_REAL_S3`` (credentials ``backdrop`` /
    ``backdrop-secret``). Skipped locally without radosgw; a failure in CI."""
    if url := os.environ.get("BACKDROP_TEST_REAL_S3"):
        yield url
        return
    _need(infra.rgw_installed(), "radosgw (scripts/rgw.sh install)")
    server = infra.RGWServer(tmp_path_factory.mktemp("rgw"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def real_s3_bucket(real_s3: str) -> str:
    """One bucket on the real S3 for the session (creating one takes RGW ~0.3 s); tests
    keep apart by their keys, which carry fresh task ids."""
    name = f"bd-real-{uuid.uuid4().hex[:12]}"
    s3_client(real_s3).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def infra_env(database_url: str, redis_url: str, s3_server: str) -> dict[str, str]:
    """``BACKDROP_*`` variables pointing a service at this session's servers."""
    return {
        "BACKDROP_ENV": "test",
        "BACKDROP_DATABASE_URL": database_url,
        "BACKDROP_REDIS_URL": redis_url,
        "BACKDROP_S3_ENDPOINT_URL": s3_server,
        "BACKDROP_S3_ACCESS_KEY": "backdrop",
        "BACKDROP_S3_SECRET_KEY": "backdrop-secret",
        "BACKDROP_S3_REGION": "us-east-1",
    }


class LiveServer:
    """A WSGI app served from a thread on a loopback port (a free one unless given), over
    TLS when given an ``ssl.SSLContext``."""

    def __init__(self, app: Any, port: int = 0, ssl_context: Any = None) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True, ssl_context=ssl_context)
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live_server() -> Iterator[Any]:
    """Factory: ``live_server(app)`` serves ``app`` and returns a ``LiveServer``."""
    servers: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        server = LiveServer(app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def token_minter() -> Iterator[TokenMinter]:
    """A token issuer for tests, its JWKS served at ``token_minter.jwks_url``."""
    minter = TokenMinter()
    server = LiveServer(minter.jwks_app())
    minter.jwks_url = f"{server.url}/.well-known/jwks.json"  # type: ignore[attr-defined]
    minter.base_url = server.url  # type: ignore[attr-defined]
    yield minter
    server.stop()


@pytest.fixture
def traced_spans() -> Iterator[Any]:
    """Tracing on in this process (``backdrop_common.tracing``), exported to memory; the
    fixture's value is the ``InMemorySpanExporter``. Off again afterwards for other tests."""
    from backdrop_common import tracing
    from opentelemetry import trace
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.util._once import Once

    exporter = InMemorySpanExporter()
    assert tracing.init_tracing("test", SimpleSpanProcessor(exporter))
    yield exporter
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.shutdown()
    BotocoreInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    # The API lets a process set its provider once; OpenTelemetry's own test utilities
    # reset these two globals the same way.
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()
