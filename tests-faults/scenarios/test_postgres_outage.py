"""Scenario 3: PostgreSQL stopped for 10 s mid-run. Meanwhile the API answers only with
success or 503 problem+json (never a 500, never a hang); afterwards every task finishes."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests
from faultkit.load import scaled, submit_digests
from faultkit.scenario import assert_clean, conclude
from faultkit.stack import GATEWAY

OUTAGE_S = 10.0


def _probe(world, task_id: str, stop: threading.Event, seen: Counter) -> None:
    """Read a task and ask for a new one, over and over, classifying every answer."""
    http = requests.Session()
    body = {"processor": "checksum", "filename": "x.txt", "size": 3, "content_type": "text/plain"}
    while not stop.is_set():
        for method, path, json in (("GET", f"/v1/tasks/{task_id}", None),
                                   ("POST", "/v1/tasks", body)):  # fmt: skip
            headers = {"Authorization": f"Bearer {world.client.token}"}
            try:
                resp = http.request(method, GATEWAY + path, json=json, headers=headers, timeout=10)
            except requests.RequestException as exc:
                seen[f"no answer ({type(exc).__name__})"] += 1
                continue
            ctype = resp.headers.get("Content-Type", "")
            if resp.status_code < 300 or (
                resp.status_code == 503 and ctype.startswith("application/problem+json")
            ):
                seen[str(resp.status_code)] += 1
            else:
                seen[f"bad {resp.status_code} {ctype}"] += 1
        time.sleep(0.2)


@pytest.mark.timeout(300)
def test_postgres_stopped_for_10_s(world, report) -> None:
    started = time.monotonic()
    batch = submit_digests(world.client, world.ledger, scaled(50), hold_s=0.2)
    seen: Counter = Counter()
    stop = threading.Event()
    prober = threading.Thread(target=_probe, args=(world, batch.ids[0], stop, seen))
    world.pg.stop()
    prober.start()
    time.sleep(OUTAGE_S)
    stop.set()
    prober.join(30)
    world.pg.start()
    back = time.monotonic()
    result = conclude(
        world, report, "postgres-stop-10s", batch,
        faults=1, fault_end=back, started=started, timeout=120,
    )  # fmt: skip
    report[-1] += f" answers={dict(seen)}"
    assert seen["503"] > 0, seen  # the outage was seen ...
    assert all(k in ("200", "201", "503") for k in seen), seen  # ... and only as 503s
    assert_clean(result)
