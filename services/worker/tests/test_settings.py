"""Worker settings: defaults, environment names, command-line overrides."""

from __future__ import annotations

import os

import pytest
from worker.cli import build_settings
from worker.settings import WorkerSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("BACKDROP_WORKER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("BACKDROP_ENV", "test")


def test_defaults() -> None:
    s = WorkerSettings()
    assert s.processor_names is None
    assert (s.worker_concurrency, s.worker_health_port, s.worker_lease_seconds) == (2, 9100, 6.0)
    assert (s.worker_cancel_deadline_seconds, s.worker_shutdown_grace_seconds) == (0.1, 20.0)
    assert s.worker_health_host == "127.0.0.1"
    # A dead worker's job is reclaimed after 7.5 s idle (+ ≤ 1 s until the next pass).
    assert (s.lease_renew_interval, s.reclaim_idle_seconds) == (2.0, 7.5)
    assert s.worker_id == ""  # the worker claims a stable <host>-<n> name in Redis


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_WORKER_PROCESSORS", " checksum, gzip ,")
    monkeypatch.setenv("BACKDROP_WORKER_CONCURRENCY", "4")
    monkeypatch.setenv("BACKDROP_WORKER_HEALTH_PORT", "0")
    monkeypatch.setenv("BACKDROP_WORKER_LEASE_SECONDS", "6")
    monkeypatch.setenv("BACKDROP_WORKER_ID", "w-1")
    s = WorkerSettings()
    assert s.processor_names == ["checksum", "gzip"]
    assert (s.worker_concurrency, s.worker_health_port, s.worker_id) == (4, 0, "w-1")
    assert s.lease_renew_interval == 2.0


def test_limits_per_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_WORKER_TIME_LIMIT_SECONDS", "60")
    monkeypatch.setenv("BACKDROP_WORKER_LIMITS", '{"gzip": {"time_seconds": 5, "memory_mb": 64}}')
    s = WorkerSettings()
    gzip, checksum = s.limits_for("gzip"), s.limits_for("checksum")
    assert (gzip.time_s, gzip.memory_bytes, gzip.result_bytes) == (5, 64 << 20, 1 << 20)
    assert (checksum.time_s, checksum.memory_bytes) == (60, 1024 << 20)


def test_command_line_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_WORKER_CONCURRENCY", "4")
    s = build_settings(
        {"concurrency": 8, "worker_id": "cli", "lease_seconds": 2.0, "processors": None}
    )
    assert (s.worker_concurrency, s.worker_id, s.worker_lease_seconds) == (8, "cli", 2.0)


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError, match="worker_concurrency"):
        WorkerSettings(worker_concurrency=0)
