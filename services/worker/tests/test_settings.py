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
    assert (s.worker_concurrency, s.worker_health_port, s.worker_lease_seconds) == (2, 9100, 30.0)
    assert (s.worker_cancel_deadline_seconds, s.worker_shutdown_grace_seconds) == (5.0, 20.0)
    assert s.lease_renew_interval == 10.0
    assert s.reclaim_idle_seconds == 45.0
    assert s.consumer_name.endswith(f"-{os.getpid()}")


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_WORKER_PROCESSORS", " checksum, gzip ,")
    monkeypatch.setenv("BACKDROP_WORKER_CONCURRENCY", "4")
    monkeypatch.setenv("BACKDROP_WORKER_HEALTH_PORT", "0")
    monkeypatch.setenv("BACKDROP_WORKER_LEASE_SECONDS", "6")
    monkeypatch.setenv("BACKDROP_WORKER_ID", "w-1")
    s = WorkerSettings()
    assert s.processor_names == ["checksum", "gzip"]
    assert (s.worker_concurrency, s.worker_health_port, s.consumer_name) == (4, 0, "w-1")
    assert s.lease_renew_interval == 2.0


def test_command_line_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_WORKER_CONCURRENCY", "4")
    s = build_settings(
        {"concurrency": 8, "worker_id": "cli", "lease_seconds": 2.0, "processors": None}
    )
    assert (s.worker_concurrency, s.consumer_name, s.worker_lease_seconds) == (8, "cli", 2.0)


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError, match="worker_concurrency"):
        WorkerSettings(worker_concurrency=0)
