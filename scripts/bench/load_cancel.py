"""Target 6: cancel → ``cancelled`` for every built-in processor, through the public API.

Each try uploads the input (presigned POST, multipart above 100 MiB), waits until the task
is ``running``, waits a random 0.2-0.3 s more, then ``POST /v1/tasks/{id}/cancel``. The
figure is the task's ``finished_at`` minus the moment the client sent the cancel (same
clock). A task whose ``error`` says it was killed after the cancel deadline was not stopped
cooperatively: those are counted. The inputs are the worker suite's
(test_cancel_builtins.py), larger for checksum and image-thumbnail: each job outlasts the
wait.
"""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Callable
from typing import Any

from accounts import User, create_task, new_user, parse_time
from backdrop_client import TERMINAL, ApiError
from load_streaming import delete_prefix, s3_client
from PIL import Image
from report import Report, Row, at_most, percentile

MiB = 1 << 20


def _big_png() -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (3000, 3000), os.urandom(3000 * 3000 * 3)).save(out, "PNG")
    return out.getvalue()


CASES: dict[str, tuple[str, Callable[[], bytes], dict[str, Any]]] = {
    "gzip level 9, 96 MiB random": ("gzip", lambda: os.urandom(96 * MiB), {"level": 9}),
    # Four digests of 192 MiB: the checksum processor hashes 32 MiB in about 0.2 s.
    "checksum x4 digests, 192 MiB": (
        "checksum",
        lambda: os.urandom(192 * MiB),
        {"algorithms": ["sha256", "sha1", "md5", "blake2b"]},
    ),
    "text-stats, 32 MiB": ("text-stats", lambda: b"lorem ipsum dolor\n" * (2 * MiB), {}),
    "csv-profile, 16 MiB": ("csv-profile", lambda: b"a,b,c\n1,2,x\n" * (MiB + MiB // 2), {}),
    # A thumbnail almost as large as the image: decoding alone ends before the cancel.
    "image-thumbnail, 27 MB PNG 3000x3000 to 2990 px PNG": (
        "image-thumbnail",
        _big_png,
        {"format": "png", "max_width": 2990, "max_height": 2990},
    ),
}


def _poll(user: User, task_id: str, until: set[str], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    task: dict[str, Any] = user.client.get_task(task_id)
    while task["status"] not in until and time.monotonic() < deadline:
        time.sleep(0.01)
        task = user.client.get_task(task_id)
    return task


def cancel_once(
    user: User, processor: str, data: bytes, params: dict[str, Any]
) -> tuple[float | None, dict[str, Any]]:
    """One try: (ms from cancel sent to ``finished_at``, the final task); None if the task
    was not running when cancelled (it finished first, or never ran)."""
    created = create_task(user.client, len(data), processor=processor, params=params)
    task_id = str(created["task"]["id"])
    user.client.upload(task_id, created["upload"], data)
    task = _poll(user, task_id, {"running", *TERMINAL}, 60)
    if task["status"] != "running":
        return None, task
    time.sleep(random.uniform(0.2, 0.3))
    sent = time.time()
    try:
        user.client.cancel(task_id)
    except ApiError as exc:  # 409: it finished before the cancel came
        return None, {**task, "status": f"not cancellable ({exc.code})"}
    task = _poll(user, task_id, set(TERMINAL), 30)
    finished = parse_time(task.get("finished_at"))
    if task["status"] != "cancelled" or finished is None:
        return None, task
    return (finished - sent) * 1000, task


def bench_cancel(report: Report, base_url: str, s3_url: str, bucket: str, tries: int) -> None:
    """``tries`` cancels of each built-in processor (the gzip case twice as many)."""
    user = new_user(base_url, "benchcancel")
    s3 = s3_client(s3_url)
    everything: list[float] = []
    details: dict[str, Any] = {}
    for label, (processor, make, params) in CASES.items():
        n = tries * 2 if processor == "gzip" else tries
        print(f"bench: (cancel) {label}: {n} tries", flush=True)
        data = make()
        took, killed, missed = [], 0, []
        for _ in range(n):
            ms, task = cancel_once(user, processor, data, params)
            delete_prefix(s3, bucket, f"users/{user.user_id}/")
            if ms is None:
                missed.append(f"{task['status']} {task.get('error')}")
                continue
            took.append(ms)
            killed += 1 if task.get("error") else 0
        del data
        everything += took
        details[label] = {"ms": took, "hard_killed": killed, "not_cancelled_while_running": missed}
        if missed:
            report.problem(f"(cancel) {label}: not cancelled while running: {missed[:3]}")
        report.add(
            Row(
                "6 cancel",
                f"{label}: cancel -> cancelled, worst of {len(took)}",
                max(took, default=None),
                "ms",
                note=f"{killed} of {len(took)} ended by the hard kill" if killed else "",
                goal=at_most(250.0, strict=True),
            )
        )
    report.details["cancel"] = details
    report.add(
        Row(
            "6 cancel",
            f"every built-in: cancel -> cancelled p99 ({len(everything)} tries)",
            percentile(everything, 99),
            "ms",
            goal=at_most(250.0, strict=True),
        )
    )
