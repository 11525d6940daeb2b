"""A worker container dies (docker kill) in the middle of a job: another one finishes it.

The job is gzip at level 9 of 32 MiB of random bytes (several seconds of CPU), so it is
certainly still running when the worker holding it (tasks.worker_id, its consumer name
<hostname>-<n>) is killed. The stream entry stays pending for the dead consumer and its
database lease lapses; after 1.25 x BACKDROP_WORKER_LEASE_SECONDS (6 s by default) a live
worker's XAUTOCLAIM takes it over and `claim` re-runs it (attempts 2). The artifact must
decompress to exactly the uploaded bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time

import pytest
import requests
from backdrop_client import Client

from containers.helpers import Stack, docker, worker_id

SIZE = 32 << 20


@pytest.mark.timeout(300)
def test_killed_worker_job_is_finished_by_another(stack: Stack, client: Client) -> None:
    workers = stack.containers("worker")
    assert len(workers) >= 2, f"need at least two workers, have {len(workers)}"
    hostnames = {stack.inspect(c)["Config"]["Hostname"]: c for c in workers}
    data = os.urandom(SIZE)
    task_id = client.submit("gzip", data, params={"level": 9})["id"]

    # Wait until a worker is inside the processor (progress moving), then kill that worker.
    deadline = time.monotonic() + 60
    while True:
        doc = client.get_task(task_id)
        if doc["status"] == "running" and (doc["progress"]["fraction"] or 0) > 0:
            break
        assert doc["status"] in ("queued", "running"), f"job ended before the kill: {doc['status']}"
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    holder = worker_id(stack, task_id)
    victim = hostnames.get(holder.rsplit("-", 1)[0])
    assert victim, f"no worker container has consumer name {holder!r} ({list(hostnames)})"
    killed_at = time.monotonic()
    docker("kill", victim)
    try:
        at_kill = client.get_task(task_id)
        assert at_kill["status"] == "running", f"job finished before the kill ({at_kill['status']})"

        done = client.wait(task_id, timeout=180)
        recovered_s = time.monotonic() - killed_at
        assert done["status"] == "succeeded", done
        assert done["attempts"] >= 2, f"not re-run after the kill: attempts={done['attempts']}"
        finisher = worker_id(stack, task_id)
        assert finisher != holder, f"finished by the killed worker {holder}?"
        assert stack.inspect(victim)["State"]["Running"] is False

        result = client.result(task_id)
        (artifact,) = result["artifacts"]
        blob = requests.get(artifact["url"], timeout=120)
        assert blob.status_code == 200
        original = hashlib.sha256(data).hexdigest()
        assert hashlib.sha256(gzip.decompress(blob.content)).hexdigest() == original
        print(f"\nworker {holder} killed; {finisher} finished the job {recovered_s:.1f}s later")
    finally:
        # Leave the stack as it was: three workers.
        docker("start", victim)
        stack.wait_healthy(victim)
