"""``/v1/webhooks`` and a task's ``callback_url``: create, list, delete, rotate, deliveries,
ownership, the per-user cap, and SSRF refusals (loopback allowed only by the allow-list)."""

from __future__ import annotations

from typing import Any

import pytest
from backdrop_common import taskstore, webhooks

from tests.helpers import Api


@pytest.fixture
def local_api(make_app: Any, token_minter: Any) -> Api:
    """A user of a gateway whose allow-list admits loopback (the tests' receivers)."""
    app = make_app(webhook_allow_networks=["127.0.0.1/32"])
    return Api(app.test_client(), token_minter)


def test_create_list_rotate_delete(local_api: Api, token_minter: Any) -> None:
    resp = local_api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    hook, secret = body["webhook"], body["secret"]
    assert secret.startswith("whsec_") and hook["url"] == "http://127.0.0.1:9/hook"
    assert local_api.get("/v1/webhooks").get_json()["items"] == [hook]
    rotated = local_api.post(f"/v1/webhooks/{hook['id']}/rotate-secret").get_json()["secret"]
    assert rotated.startswith("whsec_") and rotated != secret
    assert local_api.get(f"/v1/webhooks/{hook['id']}/deliveries").get_json() == {"items": []}
    # Someone else sees none of it.
    stranger = Api(local_api.client, token_minter)
    assert stranger.get("/v1/webhooks").get_json()["items"] == []
    for method, path in (
        ("DELETE", f"/v1/webhooks/{hook['id']}"),
        ("POST", f"/v1/webhooks/{hook['id']}/rotate-secret"),
        ("GET", f"/v1/webhooks/{hook['id']}/deliveries"),
    ):
        assert stranger.call(method, path).status_code == 404, path
    assert local_api.call("DELETE", f"/v1/webhooks/{hook['id']}").status_code == 204
    assert local_api.get("/v1/webhooks").get_json()["items"] == []
    assert local_api.call("DELETE", f"/v1/webhooks/{hook['id']}").status_code == 404


def test_at_most_ten_endpoints(local_api: Api) -> None:
    for n in range(webhooks.store.MAX_ENDPOINTS):
        url = f"http://127.0.0.1:9/{n}"
        assert local_api.post("/v1/webhooks", json={"url": url}).status_code == 201
    resp = local_api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"})
    assert resp.status_code == 429 and resp.get_json()["code"] == "rate_limited"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",  # loopback (not allowed by this gateway)
        "http://localhost/hook",
        "http://10.1.2.3/hook",  # private
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 to the cloud metadata address
        "http://[64:ff9b::a00:1]/hook",  # NAT64 to 10.0.0.1
        "http://[2002:7f00:1::1]/hook",  # 6to4 carrying 127.0.0.1
        "http://100.64.0.1/hook",  # shared address space
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "http://user:pw@127.0.0.1/hook",
        "http://no-such-host.invalid/hook",
    ],
)
def test_unsafe_urls_are_refused(api: Api, url: str) -> None:
    for resp in (
        api.post("/v1/webhooks", json={"url": url}),
        api.create(callback_url=url),
    ):
        assert resp.status_code == 400, (url, resp.get_json())
        assert resp.mimetype == "application/problem+json"
        errors = resp.get_json()["errors"]
        assert "url" in errors or "callback_url" in errors


def test_loopback_allowed_only_by_the_allow_list(local_api: Api, api: Api) -> None:
    url = "http://127.0.0.1:9/hook"
    assert local_api.post("/v1/webhooks", json={"url": url}).status_code == 201
    assert api.post("/v1/webhooks", json={"url": url}).status_code == 400
    # Other private ranges stay refused even there.
    assert local_api.post("/v1/webhooks", json={"url": "http://10.0.0.1/"}).status_code == 400


def test_a_task_with_a_callback_gets_its_secret_and_a_delivery_on_terminal(
    local_api: Api, db: Any, token_minter: Any
) -> None:
    resp = local_api.create(callback_url="http://127.0.0.1:9/cb")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["callback_secret"].startswith("whsec_")
    task = body["task"]
    assert local_api.post(f"/v1/tasks/{task['id']}/cancel").status_code == 202
    with db.cursor() as cur:
        cur.execute(
            "SELECT url, task_status, state FROM tasks.webhook_deliveries WHERE task_id = %s",
            (task["id"],),
        )
        rows = cur.fetchall()
    assert [tuple(r.values()) for r in rows] == [("http://127.0.0.1:9/cb", "cancelled", "pending")]
    assert taskstore.get_task(db, task["id"])["status"] == "cancelled"
    listed = local_api.get(f"/v1/tasks/{task['id']}/deliveries").get_json()["items"]
    assert [(d["task_status"], d["state"], d["webhook_id"]) for d in listed] == [
        ("cancelled", "pending", None)
    ]
    stranger = Api(local_api.client, token_minter)
    assert stranger.get(f"/v1/tasks/{task['id']}/deliveries").status_code == 404
