"""One trace per task: create (gateway) → upload-complete (upload) → queued → run (worker).

The gateway and the upload service run in this process and export to memory; a real
``backdrop-worker`` subprocess exports with the standard ``OTEL_TRACES_EXPORTER=console``,
so its spans (and its work horse's S3 calls) are read back from its stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backdrop_testing.tokens import TokenMinter
from flask import Flask
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.helpers import Api

WORKER_BIN = Path(sys.executable).with_name("backdrop-worker")


def _console_spans(text: str) -> list[dict[str, Any]]:
    """The spans ``ConsoleSpanExporter`` printed (indented JSON objects, one after another)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) != -1:
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at += 1
            continue
        if isinstance(value, dict) and "context" in value:
            found.append(value)
        at = end
    return found


@pytest.fixture
def worker(
    infra_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A traced worker subprocess serving ``checksum``; call it to read the spans so far."""
    out = tmp_path / "worker.out"
    env = {
        **os.environ,
        **infra_env,
        "BACKDROP_S3_BUCKET": "gateway-tests",
        "BACKDROP_WORKER_HEALTH_PORT": "0",
        "BACKDROP_WORKER_PROCESSORS": "checksum",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    with out.open("wb") as sink:
        proc = subprocess.Popen([str(WORKER_BIN)], env=env, stdout=sink, stderr=subprocess.DEVNULL)
    yield lambda: _console_spans(out.read_text())
    proc.terminate()
    proc.wait(30)


def test_one_trace_spans_gateway_upload_and_worker(
    traced_spans: InMemorySpanExporter,
    make_app: Callable[..., Flask],
    token_minter: TokenMinter,
    worker: Callable[[], list[dict[str, Any]]],
    db: Any,
) -> None:
    user = Api(make_app().test_client(), token_minter)
    data = b"traced bytes"
    task = user.new_task(size=len(data))
    resp = user.call("PUT", f"/v1/tasks/{task['id']}/content", data=data)
    assert resp.status_code == 202, resp.get_data(as_text=True)

    here = {span.name: span for span in traced_spans.get_finished_spans()}
    create = here["POST /v1/tasks"]
    trace_id = format(create.context.trace_id, "032x")
    # The upload-complete request came later, from the client, yet joins the task's trace.
    assert format(here["task upload-complete"].context.trace_id, "032x") == trace_id
    assert format(here["task queued"].context.trace_id, "032x") == trace_id
    with db.cursor() as cur:
        cur.execute("SELECT traceparent FROM tasks.tasks WHERE id = %s", (task["id"],))
        assert cur.fetchone()["traceparent"].split("-")[1] == trace_id

    deadline = time.monotonic() + 60
    names: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        names = {s["name"]: s for s in worker() if s["context"]["trace_id"] == f"0x{trace_id}"}
        if "task run" in names and "task process" in names and "S3.GetObject" in names:
            break
        time.sleep(0.2)
    assert {"task run", "task process", "S3.GetObject"} <= set(names), sorted(names)
    run = names["task run"]
    assert run["resource"]["attributes"]["service.name"] == "worker"
    assert run["attributes"]["backdrop.outcome"] == "succeeded"
    assert user.get(f"/v1/tasks/{task['id']}").get_json()["status"] == "succeeded"
