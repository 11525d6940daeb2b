"""The ProcessorContext given to processors inside the job process."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from worker.horse.context import JobContext
from worker.processors.api import Cancelled
from worker.protocol import JobSpec, Progress


class FakeStorage:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def upload_fileobj(self, key: str, fileobj: Any, content_type: str) -> None:
        data = b""
        while chunk := fileobj.read(3):
            data += chunk
        self.objects[key] = (data, content_type)


def _ctx(**kw: Any) -> tuple[JobContext, list[Progress], threading.Event, FakeStorage]:
    spec = JobSpec(
        task_id="t1",
        owner_id="o1",
        processor="p",
        params={},
        input_key="k",
        filename="in.txt",
        size=10,
        content_type="text/plain",
        **kw,
    )
    sent: list[Progress] = []
    cancel = threading.Event()
    storage = FakeStorage()
    ctx = JobContext(spec, {"a": 1}, io.BytesIO(b"0123456789"), storage, cancel, sent.append)
    return ctx, sent, cancel, storage


def test_progress_is_throttled_but_the_last_report_always_goes() -> None:
    ctx, sent, _, _ = _ctx(progress_interval=10.0)
    for done in range(1, 11):
        ctx.progress(done, 10, "reading")
    assert [p.fraction for p in sent] == [0.1, 1.0]
    ctx, sent, _, _ = _ctx(progress_interval=0.0)
    ctx.progress(5, 0, "unknown total")
    assert sent == [Progress(0.0, "unknown total", None)]


def test_cancellation_is_seen_by_check_and_progress() -> None:
    ctx, _, cancel, _ = _ctx()
    ctx.check_cancelled()
    assert ctx.cancelled is False
    cancel.set()
    assert ctx.cancelled is True
    with pytest.raises(Cancelled):
        ctx.check_cancelled()
    with pytest.raises(Cancelled):
        ctx.progress(1, 2, "x")


def test_write_artifact_streams_chunks_and_files_under_the_task_prefix() -> None:
    ctx, _, _, storage = _ctx()
    doc = ctx.write_artifact("../../etc/out put.txt", [b"ab", b"", b"cde"], "text/plain")
    assert doc == {
        "name": "out put.txt",
        "key": "users/o1/tasks/t1/artifacts/out put.txt",
        "size": 5,
        "content_type": "text/plain",
    }
    assert storage.objects[doc["key"]] == (b"abcde", "text/plain")
    ctx.write_artifact("out put.txt", io.BytesIO(b"xyz"), "text/plain")
    assert [a["size"] for a in ctx.artifacts] == [3]  # same name replaces, not duplicates


def test_input_and_metadata() -> None:
    ctx, _, _, _ = _ctx()
    assert ctx.input.read(4) == b"0123"
    assert (ctx.size, ctx.filename, ctx.content_type, dict(ctx.params)) == (
        10,
        "in.txt",
        "text/plain",
        {"a": 1},
    )
    started = time.monotonic()
    ctx.logger.info("hello")
    assert time.monotonic() - started < 1
