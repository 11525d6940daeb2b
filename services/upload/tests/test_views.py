"""``upload-complete`` reads its optional JSON body strictly: bad input is a 400, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from backdrop_common import taskstore
from flask.testing import FlaskClient
from upload_service.resources import Resources

from tests.helpers import Users


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,  # found by the API fuzz review: RecursionError was a 500
        b'{"parts": [{"part_number": 1, "etag": NaN}]}',
        b'{"parts": Infinity}',
        b"{not json",
        b"\xff\xfe\x00",
        b"null",  # found by fuzzing: a literal null passed as "no body"
        b"[]",
        b'{"parts": [], "x-unknown": 42}',  # found by fuzzing: unknown members were ignored
        b'{"part": [{"part_number": 1, "etag": "e"}]}',
        b'{"parts": null}',
        b'{"parts": [{"part_number": 1, "etag": "e", "size": 5}]}',
        b'{"parts": [{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "b"}]}',
    ],
)
def test_malformed_upload_complete_body_is_400(
    client: FlaskClient, res: Resources, users: Users, make_task: Callable[..., Any], body: bytes
) -> None:
    owner, headers = users.new()
    task = make_task(owner, b"hello world")
    resp = client.post(
        f"/v1/tasks/{task['id']}/upload-complete",
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "validation_error"
    assert taskstore.get_task(res.db, task["id"])["status"] == "awaiting_upload"
