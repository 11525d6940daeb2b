"""The read-path baseline: a bare Flask JSON route under the gateway's gunicorn settings.

    GUNICORN_BIND=127.0.0.1:18099 gunicorn -c python:backdrop_common.gunicorn_conf \
        --chdir scripts/bench bare_app:app

It answers ``GET /task`` with a document the size and shape of a Task, and does nothing
else: no token, no database, no Redis, no metrics. What the gateway adds is the difference.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)
app.json.sort_keys = False  # type: ignore[attr-defined]
TASK = {
    "id": "6c1d7e0e-8f5a-4a51-9a0e-3b0f5c1e2d44",
    "status": "succeeded",
    "processor": "checksum",
    "params": {"algorithms": ["sha256"]},
    "filename": "hello.txt",
    "size": 1024,
    "content_type": "application/octet-stream",
    "sha256": None,
    "progress": {"fraction": 1.0, "stage": "hashing", "message": None},
    "attempts": 1,
    "max_attempts": 5,
    "cancel_requested": False,
    "error": None,
    "result": {"bytes": 1024, "sha256": "0" * 64},
    "created_at": "2026-11-29T20:00:00.000000Z",
    "updated_at": "2026-11-29T20:00:00.100000Z",
    "queued_at": "2026-11-29T20:00:00.010000Z",
    "started_at": "2026-11-29T20:00:00.020000Z",
    "finished_at": "2026-11-29T20:00:00.030000Z",
    "upload_expires_at": "2026-11-29T21:00:00.000000Z",
    "next_attempt_at": None,
    "stream_url": "http://127.0.0.1:18080/v1/tasks/6c1d7e0e-8f5a-4a51-9a0e-3b0f5c1e2d44/events",
}


@app.get("/task")
def task() -> Response:
    """One Task-shaped JSON document."""
    return jsonify(TASK)
