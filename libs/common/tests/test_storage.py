"""Storage against a real S3 server (moto): round trips, presigned forms and part URLs."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from backdrop_common.config import BaseServiceSettings
from backdrop_common.errors import UploadInvalid
from backdrop_common.storage import MiB, ObjectNotFound, Storage


def _settings(endpoint: str, public: str = "") -> BaseServiceSettings:
    return BaseServiceSettings(env="test", s3_endpoint_url=endpoint, s3_public_endpoint_url=public)


@pytest.fixture
def storage(s3_server: str, s3_bucket: str) -> Storage:
    """Storage on a fresh bucket of the moto server."""
    return Storage(_settings(s3_server), bucket=s3_bucket)


def test_ensure_bucket_creates_once(s3_server: str) -> None:
    store = Storage(_settings(s3_server), bucket=f"bd-ensure-{uuid.uuid4().hex[:8]}")
    store.ensure_bucket()
    store.ensure_bucket()
    store.ping()
    rules = store.s3.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
    assert rules[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_round_trip_and_delete(storage: Storage) -> None:
    storage.put_bytes("a/b.txt", b"hello", "text/plain")
    meta = storage.head("a/b.txt")
    assert meta is not None and meta["ContentLength"] == 5 and meta["ContentType"] == "text/plain"
    body = storage.open_read("a/b.txt")
    assert body.read() == b"hello"
    assert storage.sha256("a/b.txt") == hashlib.sha256(b"hello").hexdigest()
    assert requests.get(storage.presigned_get("a/b.txt", 60), timeout=5).content == b"hello"
    storage.delete("a/b.txt")
    storage.delete("a/b.txt")  # already gone: fine
    assert storage.head("a/b.txt") is None
    with pytest.raises(ObjectNotFound):
        storage.open_read("a/b.txt")


@pytest.mark.parametrize("size", [8, None], ids=["one CopyObject", "managed copy"])
def test_copy_keeps_bytes_and_type(storage: Storage, size: int | None) -> None:
    storage.put_bytes("in/a.csv", b"a,b\n1,2\n", "text/csv")
    storage.copy("in/a.csv", "verified/x", size=size)
    storage.put_bytes("in/a.csv", b"changed!", "text/plain")  # the copy is independent
    meta = storage.head("verified/x")
    assert meta is not None and meta["ContentType"] == "text/csv"
    assert storage.open_read("verified/x").read() == b"a,b\n1,2\n"
    with pytest.raises(ObjectNotFound):
        storage.copy("in/missing", "verified/y", size=size)


def test_upload_fileobj_multipart_and_delete_prefix(storage: Storage) -> None:
    data = os.urandom(19 * MiB)
    storage.upload_fileobj("p/big.bin", io.BytesIO(data), "application/octet-stream")
    storage.put_bytes("p/small", b"x", "text/plain")
    storage.put_bytes("q/keep", b"y", "text/plain")
    assert storage.head("p/big.bin")["ContentLength"] == len(data)
    assert storage.sha256("p/big.bin") == hashlib.sha256(data).hexdigest()
    assert storage.delete_prefix("p/") == 2
    assert storage.head("q/keep") is not None


def _policy(fields: dict[str, str]) -> dict[str, object]:
    doc: dict[str, object] = json.loads(base64.b64decode(fields["policy"]))
    return doc


def test_presigned_post_policy_and_upload(storage: Storage) -> None:
    key = "users/u/tasks/t/input/data.csv"
    form = storage.presigned_post(key, content_type="text/csv", max_size=5)
    assert form["method"] == "POST" and form["fields"]["key"] == key
    policy = _policy(form["fields"])
    conditions = policy["conditions"]
    assert {"key": key} in conditions and {"bucket": storage.bucket} in conditions
    assert {"Content-Type": "text/csv"} in conditions
    assert ["content-length-range", 5, 5] in conditions
    expiration = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
    assert 850 < (expiration - datetime.now(UTC)).total_seconds() <= 900
    assert form["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    resp = requests.post(
        form["url"], data=form["fields"], files={"file": ("data.csv", b"a,b\n1")}, timeout=10
    )
    assert resp.status_code in (200, 201, 204), resp.text
    assert storage.head(key)["ContentLength"] == 5


def test_presigned_post_for_an_empty_file(storage: Storage) -> None:
    form = storage.presigned_post("empty", content_type="text/plain", max_size=0)
    assert ["content-length-range", 0, 0] in _policy(form["fields"])["conditions"]
    resp = requests.post(form["url"], data=form["fields"], files={"file": b""}, timeout=10)
    assert resp.status_code in (200, 201, 204)
    assert storage.head("empty")["ContentLength"] == 0


def test_urls_are_signed_for_the_public_endpoint(s3_server: str, s3_bucket: str) -> None:
    store = Storage(_settings(s3_server, "http://files.example.test:9000"), bucket=s3_bucket)
    url = store.presigned_get("k", 120)
    parts = urlsplit(url)
    assert parts.netloc == "files.example.test:9000"
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert store.presigned_post("k", content_type="a/b", max_size=1)["url"].startswith(
        "http://files.example.test:9000/"
    )


def test_presigned_multipart_round_trip(storage: Storage) -> None:
    data = os.urandom(17 * MiB)
    plan = storage.presigned_multipart("mp/file.bin", size=len(data), content_type="a/b")
    assert plan["method"] == "MULTIPART" and plan["part_size"] == 8 * MiB
    assert [p["part_number"] for p in plan["parts"]] == [1, 2, 3]
    again = storage.presigned_multipart(
        "mp/file.bin", size=len(data), content_type="a/b", upload_id=plan["upload_id"]
    )
    assert again["upload_id"] == plan["upload_id"]
    parts = []
    for part in plan["parts"]:
        start = (part["part_number"] - 1) * plan["part_size"]
        resp = requests.put(part["url"], data=data[start : start + plan["part_size"]], timeout=30)
        assert resp.status_code == 200
        parts.append({"part_number": part["part_number"], "etag": resp.headers["ETag"]})
    listed = storage.list_parts("mp/file.bin", plan["upload_id"])
    assert [p["etag"] for p in listed] == [p["etag"] for p in parts]
    with pytest.raises(UploadInvalid):
        storage.complete_multipart(
            "mp/file.bin",
            plan["upload_id"],
            [{"part_number": 1, "etag": "x"}],
        )
    storage.complete_multipart("mp/file.bin", plan["upload_id"], reversed(parts))
    assert storage.sha256("mp/file.bin") == hashlib.sha256(data).hexdigest()


def test_abort_multipart(storage: Storage) -> None:
    upload_id = storage.create_multipart("ab/x", "a/b")
    storage.upload_part("ab/x", upload_id, 1, b"abc")
    storage.abort_multipart("ab/x", upload_id)
    storage.abort_multipart("ab/x", upload_id)  # already gone: fine
    with pytest.raises(ObjectNotFound):
        storage.list_parts("ab/x", upload_id)
    assert storage.head("ab/x") is None


def test_multipart_part_urls_pin_each_parts_length(storage: Storage) -> None:
    # Each part URL signs its exact Content-Length: a client cannot park up to 5 GiB per
    # part in the bucket (a real S3 refuses another length; test_real_s3 checks that).
    signed: list[int] = []
    sign = storage.signer.generate_presigned_url

    def spy(operation: str, Params: dict[str, Any], ExpiresIn: int) -> str:
        signed.append(Params["ContentLength"])
        return str(sign(operation, Params=Params, ExpiresIn=ExpiresIn))

    storage.signer.generate_presigned_url = spy
    plan = storage.presigned_multipart("mp/pinned.bin", size=17 * MiB + 5, content_type="a/b")
    assert signed == [8 * MiB, 8 * MiB, 1 * MiB + 5]
    for part in plan["parts"]:
        query = parse_qs(urlsplit(part["url"]).query)
        assert query["X-Amz-SignedHeaders"] == ["content-length;host"]
    storage.abort_multipart("mp/pinned.bin", plan["upload_id"])
