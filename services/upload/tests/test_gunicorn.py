"""The service under gunicorn (gevent) in a child process, exactly as deployed.

A benchmark-style check streams ``BACKDROP_BENCH_MIB`` MiB (default 256) through
``PUT /v1/tasks/<id>/content`` and reads the worker's peak RSS (``VmHWM``, reset after a
warm-up upload) from ``/proc``; another shows an over-size body is refused without being
drained.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from backdrop_testing.infra import free_port, stalled_put
from upload_service.resources import Resources
from upload_service.settings import UploadSettings

from tests.helpers import Users, queued_key, task_objects

MiB = 1024 * 1024
BLOCK = os.urandom(MiB)
BODY_READ_TIMEOUT_S = 3  # long enough that streaming uploads on a busy machine never stall
LIMIT_MB = 100
APP = "upload_service.app:create_app()"


class Body:
    """A request body of ``size`` bytes generated on the fly (never held whole)."""

    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the repeating random block."""
        n = self.size - self.sent if n < 0 else min(n, self.size - self.sent)
        offset = self.sent % MiB
        chunk = BLOCK[offset : offset + n]  # may be short at the block's end; callers loop
        self.sent += len(chunk)
        return chunk


def _sha256(size: int) -> str:
    digest = hashlib.sha256()
    for _ in range(size // MiB):
        digest.update(BLOCK)
    digest.update(BLOCK[: size % MiB])
    return digest.hexdigest()


def _status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


@pytest.fixture
def service(settings: UploadSettings, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The upload service under gunicorn: ``(base_url, worker_pid)``."""
    port = free_port()
    bench = int(os.environ.get("BACKDROP_BENCH_MIB", "256")) * MiB
    settings.max_upload_bytes = max(settings.max_upload_bytes, bench)
    settings.body_read_timeout_s = BODY_READ_TIMEOUT_S
    env = {
        **os.environ,
        **{f"BACKDROP_{k.upper()}": str(v) for k, v in settings.model_dump().items() if v},
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_TIMEOUT": "300",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), "-c", "python:backdrop_common.gunicorn_conf", APP],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # still booting (the backlog accepts early)
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        yield base, int(children[0])
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def _upload(base: str, task: dict[str, Any], headers: dict[str, str], size: int) -> Any:
    return requests.put(
        f"{base}/v1/tasks/{task['id']}/content", data=Body(size), headers=headers, timeout=600
    )


@pytest.mark.slow
def test_streamed_upload_memory_is_bounded(
    service: tuple[str, int], res: Resources, users: Users, make_task: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    base, worker = service
    size = int(os.environ.get("BACKDROP_BENCH_MIB", "256")) * MiB
    owner, headers = users.new()
    idle = _status(worker)["VmRSS"]
    warm = 20 * MiB  # first use of boto3's clients and pools, allocator arenas
    assert _upload(base, make_task(owner, size=warm, sha256=_sha256(warm)), headers, warm).ok

    Path(f"/proc/{worker}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status(worker)["VmRSS"]
    task = make_task(owner, size=size, sha256=_sha256(size))
    started = time.monotonic()
    resp = _upload(base, task, headers, size)
    elapsed = time.monotonic() - started
    peak = _status(worker)["VmHWM"]
    growth_mb = (peak - before) / 1e6
    with capsys.disabled():
        print(
            f"\n[bench] streamed {size // MiB} MiB in {elapsed:.1f} s "
            f"({size / MiB / elapsed:.0f} MiB/s); worker RSS idle {idle / 1e6:.0f} MB, "
            f"after warm-up {before / 1e6:.0f} MB, peak {peak / 1e6:.0f} MB "
            f"(growth {growth_mb:.1f} MB; from idle {(peak - idle) / 1e6:.1f} MB)"
        )
    assert resp.status_code == 202, resp.text
    assert res.storage.head(queued_key(res, task))["ContentLength"] == size
    assert growth_mb < LIMIT_MB
    assert (peak - idle) / 1e6 < LIMIT_MB  # buffers included


def test_over_size_is_refused_without_draining(
    service: tuple[str, int], res: Resources, users: Users, make_task: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    base, _ = service
    owner, headers = users.new()
    task = make_task(owner, b"0123456789")
    started = time.monotonic()
    try:  # the reply comes before the body is read; the client may see a reset instead
        resp = requests.put(
            f"{base}/v1/tasks/{task['id']}/content", data=Body(64 * MiB), headers=headers,
            timeout=30,
        )  # fmt: skip
        assert resp.status_code == 413
        outcome = "413"
    except requests.ConnectionError:
        outcome = "connection reset"
    took = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[bench] 64 MiB body for a 10-byte task: {outcome} after {took:.2f} s")
    assert took < 10
    assert task_objects(res, task) == []
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200

    def chunked() -> Iterator[bytes]:  # no Content-Length: found out while streaming
        for _ in range(12):
            yield BLOCK

    small = make_task(owner, b"z" * (9 * MiB), declare_sha=False)
    try:
        resp = requests.put(
            f"{base}/v1/tasks/{small['id']}/content", data=chunked(), headers=headers, timeout=30
        )
        assert resp.status_code == 413
    except requests.ConnectionError:
        pass
    assert task_objects(res, small) == []
    uploads = res.storage.s3.list_multipart_uploads(Bucket=res.storage.bucket)
    assert uploads.get("Uploads", []) == []


def test_a_stalled_body_gets_408_and_the_connection_is_freed(
    service: tuple[str, int], res: Resources, users: Users, make_task: Callable[..., Any],
    tmp_path: Path,
) -> None:  # fmt: skip
    base, _ = service
    owner, headers = users.new()
    task = make_task(owner, b"x" * 1000)
    path = f"/v1/tasks/{task['id']}/content"
    reply, took = stalled_put(base, path, headers, 1000)  # 990 bytes short
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"application/problem+json" in reply and b'"code": "request_timeout"' in reply
    assert BODY_READ_TIMEOUT_S - 0.5 < took < BODY_READ_TIMEOUT_S + 10
    assert task_objects(res, task) == []
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()
