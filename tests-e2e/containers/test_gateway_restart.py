"""The gateway container restarts: clients that retry recover, and nothing is lost.

The gateway keeps no state of its own (tasks in PostgreSQL, events in Redis, tokens checked
against auth's JWKS), so after `docker restart` an access token issued before still works,
the task list is the same, and new tasks run.
"""

from __future__ import annotations

import threading
import time

import pytest
from backdrop_client import BackdropError, Client

from containers.helpers import Stack, docker


@pytest.mark.timeout(240)
def test_gateway_restart_clients_recover(stack: Stack, client: Client) -> None:
    ids = [client.submit("text-stats", f"hello backdrop {i}\n".encode())["id"] for i in range(3)]
    for task_id in ids:
        assert client.wait(task_id)["status"] == "succeeded"
    before = client.list_page(limit=100)
    me_before = client.me()

    gateway = stack.container("gateway")
    started_before = stack.inspect(gateway)["State"]["StartedAt"]
    errors: list[str] = []
    restarting = threading.Thread(target=docker, args=("restart", "-t", "10", gateway))
    restarting.start()
    # A client polling during the restart sees failures (refused / reset / 503) and then 200.
    t0 = time.monotonic()
    while restarting.is_alive():
        try:
            resp = client.request("GET", "/readyz", auth=False, check=False, timeout=2)
            if resp.status_code != 200:
                errors.append(str(resp.status_code))
        except BackdropError as exc:
            errors.append(type(exc).__name__)
        time.sleep(0.1)
    restarting.join()
    downtime = time.monotonic() - t0 + client.wait_ready(timeout=120)
    assert stack.inspect(gateway)["State"]["StartedAt"] != started_before, "not restarted"

    # The token issued before the restart still works; the data is all there.
    assert client.me()["id"] == me_before["id"]
    after = client.list_page(limit=100)
    assert [t["id"] for t in after["items"]] == [t["id"] for t in before["items"]]
    assert {t["status"] for t in after["items"]} == {"succeeded"}
    assert client.result(ids[0])["result"]["lines"] == 1

    # And the pipeline works through the new gateway process.
    new_id = client.submit("text-stats", b"after the restart\n")["id"]
    assert client.wait(new_id)["status"] == "succeeded"
    print(f"\ngateway back after {downtime:.1f}s; failures seen while restarting: {len(errors)}")
