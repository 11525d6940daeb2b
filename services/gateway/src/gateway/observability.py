"""The gateway's ``/metrics``: closed to the world, and what operators' dashboards read.

The gateway is the public face, so its ``/metrics`` answers only to Prometheus' scrape token
(``BACKDROP_METRICS_TOKEN``, sent as ``Authorization: Bearer ...``) or to an operator's
access token; anyone else gets 401/403. It also carries the fleet gauges (queues, workers,
tasks by status), computed when scraped.
"""

from __future__ import annotations

import hmac

from backdrop_common.errors import Forbidden
from backdrop_common.tokens import bearer_token
from flask import current_app
from prometheus_client import Counter

from gateway.resources import resources

TASKS_CREATED = Counter(
    "backdrop_tasks_created_total", "Tasks created through the API", ["processor"]
)


def metrics_guard() -> None:
    """Let the scrape token or an operator's access token through; refuse anything else."""
    token = bearer_token()  # 401 with a Bearer challenge when there is none
    expected = resources().settings.metrics_token
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return
    principal = current_app.extensions["token_verifier"].verify(token)
    if not principal.has_role("operator"):
        raise Forbidden("Metrics are for operators.")


metrics_guard.required_role = "operator"  # type: ignore[attr-defined]
