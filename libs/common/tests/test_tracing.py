"""Tracing: off unless OTEL_* asks; when on, job messages and log lines carry the trace."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import redis
from backdrop_common import jobs, tracing
from backdrop_common.logs import configure_logging
from backdrop_common.redis_keys import job_stream


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_enabled_follows_the_standard_variables(
    env: dict[str, str], on: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing.enabled() is on


def test_untraced_job_message_is_unchanged(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert not tracing.init_tracing("test")
    with tracing.span("ignored"):
        assert tracing.current_traceparent() is None
        jobs.enqueue_job(redis_client, "checksum", "t-1")
    ((_, fields),) = redis_client.xrange(job_stream("checksum"))
    assert fields == {"task_id": "t-1"}


def _log_line(message: str) -> dict[str, Any]:
    configure_logging("test")
    sink = io.StringIO()
    logging.getLogger().handlers[0].stream = sink  # type: ignore[attr-defined]
    logging.getLogger("t").warning(message)
    line: dict[str, Any] = json.loads(sink.getvalue())
    return line


def test_traced_job_message_and_logs_carry_the_trace(
    traced_spans: Any, redis_client: redis.Redis
) -> None:
    assert "trace_id" not in _log_line("outside")
    with tracing.span("request") as outer:
        trace_id = format(outer.get_span_context().trace_id, "032x")
        assert _log_line("inside")["trace_id"] == trace_id
        jobs.enqueue_job(redis_client, "checksum", "t-2")
    ((_, fields),) = redis_client.xrange(job_stream("checksum"))
    # A later process continues the stored trace, even from inside another one.
    with tracing.span("elsewhere"), tracing.span("run", fields["traceparent"]) as run:
        assert format(run.get_span_context().trace_id, "032x") == trace_id
    names = {s.name: s for s in traced_spans.get_finished_spans()}
    assert names["run"].parent.span_id == outer.get_span_context().span_id
