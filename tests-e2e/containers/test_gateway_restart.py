"""The gateway container restarts: clients that retry recover, and nothing is lost.

The gateway keeps no state of its own (tasks in PostgreSQL, events in Redis, tokens checked
against auth's JWKS), so after `docker restart` an access token issued before still works,
the task list is the same, and new tasks run.
"""

from __future__ import annotations

import threading
import time

import pytest
from ctsupport import Client, Stack, docker, wait_ready


@pytest.mark.timeout(240)
def test_gateway_restart_clients_recover(stack: Stack, client: Client) -> None:
    ids = [client.submit("text-stats", f"hello backdrop {i}\n".encode()) for i in range(3)]
    for task_id in ids:
        assert client.wait(task_id)["status"] == "succeeded"
    before = client.get("/v1/tasks", params={"limit": 100}).json()
    me_before = client.get("/v1/auth/me").json()

    gateway = stack.container("gateway")
    started_before = stack.inspect(gateway)["State"]["StartedAt"]
    errors: list[str] = []
    restarting = threading.Thread(target=docker, args=("restart", "-t", "10", gateway))
    restarting.start()
    # A client polling during the restart sees failures (refused / reset / 503) and then 200.
    t0 = time.monotonic()
    while restarting.is_alive():
        try:
            client.get("/readyz", timeout=2)
        except Exception as exc:
            errors.append(type(exc).__name__)
        time.sleep(0.1)
    restarting.join()
    downtime = time.monotonic() - t0 + wait_ready(client.base_url, timeout=120)
    assert stack.inspect(gateway)["State"]["StartedAt"] != started_before, "not restarted"

    # The token issued before the restart still works; the data is all there.
    me = client.get("/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["id"] == me_before["id"]
    after = client.get("/v1/tasks", params={"limit": 100})
    assert after.status_code == 200, after.text
    assert [t["id"] for t in after.json()["items"]] == [t["id"] for t in before["items"]]
    assert {t["status"] for t in after.json()["items"]} == {"succeeded"}
    result = client.get(f"/v1/tasks/{ids[0]}/result")
    assert result.status_code == 200 and result.json()["result"]["lines"] == 1

    # And the pipeline works through the new gateway process.
    new_id = client.submit("text-stats", b"after the restart\n")
    assert client.wait(new_id)["status"] == "succeeded"
    print(f"\ngateway back after {downtime:.1f}s; failures seen while restarting: {len(errors)}")
