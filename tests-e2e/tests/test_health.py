"""The gateway's health endpoints answer as API.md says."""

from __future__ import annotations

import os

import requests

# The local stacks (scripts/stack.py) set ``<profile>-metrics-token``.
METRICS_TOKEN = os.environ.get("BACKDROP_METRICS_TOKEN", "e2e-metrics-token")


def test_health_ready_metrics(base_url: str) -> None:
    assert requests.get(f"{base_url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{base_url}/readyz", timeout=10).json()
    # Which dependency fails is for operators' eyes; the world learns ready or not.
    assert ready == {"status": "ready"}
    anonymous = requests.get(f"{base_url}/metrics", timeout=5)
    assert anonymous.status_code == 401  # the public gateway's metrics are not for the world
    scrape = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    metrics = requests.get(f"{base_url}/metrics", headers=scrape, timeout=10)
    assert metrics.status_code == 200 and "backdrop_http_requests_total" in metrics.text
    assert "backdrop_queue_lag" in metrics.text and "backdrop_workers_live" in metrics.text


def test_unknown_route_is_problem_json(base_url: str) -> None:
    resp = requests.get(f"{base_url}/v1/nothing-here", timeout=5)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("application/problem+json")
