"""Celery baseline: ``celery -A celery_job worker --pool threads --concurrency 8``.

Broker and result backend are Redis (``BENCH_BROKER``, ``BENCH_BACKEND``); every result is
stored, as Backdrop stores every final state.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from jobs import checksum as run_checksum

app = Celery("bench", broker=os.environ["BENCH_BROKER"], backend=os.environ["BENCH_BACKEND"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])


@app.task(name="checksum")
def checksum(key: str | None = None, data: str | None = None) -> dict[str, Any]:
    """The shared checksum job."""
    return run_checksum(key, data)
