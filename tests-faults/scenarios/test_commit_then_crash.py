"""Scenario 7: the upload service dies between the ``queued`` commit and the XADD (the test-only
fault point ``queued-before-xadd``): the sweeper sends each job (within its owner's fair
share), processed exactly once."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import uuid

import pytest
import requests
from backdrop_client import Client
from backdrop_client.errors import BackdropError
from faultkit.load import Batch, Submitted, rows, scaled
from faultkit.scenario import assert_clean, conclude
from faultkit.servers import free_port, wait_until
from faultkit.stack import ROOT, RUN

AUTH = "http://127.0.0.1:26081"


@pytest.fixture
def doomed_upload(world):
    """A second upload service whose processes die at the fault point; its URL."""
    port = free_port()
    env = {
        **world.stack.env,
        "BACKDROP_AUTH_URL": AUTH,
        "BACKDROP_S3_ENDPOINT_URL": world.s3.url,
        "BACKDROP_FAULT_POINTS": "queued-before-xadd",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
    }
    log = (RUN / "logs" / "doomed-upload.log").open("ab")
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "python:backdrop_common.gunicorn_conf",
         "upload_service.app:create_app()"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(f"{url}/readyz", timeout=2).ok, 60, "the doomed upload")
    yield url
    proc.terminate()
    proc.wait(30)
    log.close()


@pytest.mark.timeout(240)
def test_killed_between_commit_and_xadd(world, report, doomed_upload) -> None:
    started = time.monotonic()
    doomed = Client(doomed_upload, credentials=world.client.credentials, timeout=10)
    batch = Batch()
    deaths = 0
    for _ in range(scaled(20)):
        data = os.urandom(2048)
        tag = uuid.uuid4().hex
        params = {"tag": tag, "ledger": str(world.ledger), "hold_s": 0.0}
        created = world.client.create_task("fault-digest", f"{tag}.bin", len(data), params=params)
        task_id = created["task"]["id"]
        try:
            doomed.stream_content(task_id, data)
        except BackdropError:
            deaths += 1  # the process died after committing ``queued``
        batch.tasks.append(Submitted(task_id, tag, hashlib.sha256(data).hexdigest()))
    result = conclude(
        world, report, "commit-then-crash", batch,
        faults=deaths, fault_end=time.monotonic(), started=started, timeout=120,
    )  # fmt: skip
    assert deaths == len(batch.tasks)
    assert_clean(result)
    assert {r["attempts"] for r in rows(world.db_url, batch.ids)} == {1}
