"""Smoke: the app starts and answers."""

from __future__ import annotations

from typing import Any


def test_create_and_get(api: Any) -> None:
    resp = api.create()
    assert resp.status_code == 201, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["upload"]["method"] == "POST"
    got = api.get(f"/v1/tasks/{doc['task']['id']}")
    assert got.status_code == 200
    assert got.get_json()["status"] == "awaiting_upload"
