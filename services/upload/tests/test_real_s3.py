"""What storage enforces of what Backdrop signs, checked on Ceph's RADOS Gateway (moto checks
none of it: every request below "works" there). The fixture ``real_s3`` starts the cluster
once per session."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from backdrop_common.config import BaseServiceSettings
from backdrop_common.storage import MiB, Storage

pytestmark = pytest.mark.real_s3


@pytest.fixture
def storage(real_s3: str, real_s3_bucket: str) -> Storage:
    """Storage on the session's RGW bucket, with the service's credentials."""
    settings = BaseServiceSettings(
        env="test",
        s3_endpoint_url=real_s3,
        s3_access_key="backdrop",
        s3_secret_key="backdrop-secret",
    )
    return Storage(settings, bucket=real_s3_bucket)


def _post(form: dict[str, Any], data: bytes, **field_overrides: str) -> requests.Response:
    fields = {**form["fields"], **field_overrides}
    return requests.post(form["url"], data=fields, files={"file": ("f", data)}, timeout=30)


def _key() -> str:
    return f"users/{uuid.uuid4()}/tasks/{uuid.uuid4()}/input/f.txt"


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def test_exact_size_is_accepted(storage: Storage) -> None:
    key = _key()
    form = storage.presigned_post(key, content_type="text/plain", max_size=5)
    assert _post(form, b"hello").status_code in (200, 201, 204)
    assert storage.open_read(key).read() == b"hello"


def test_a_form_for_one_key_cannot_write_another(storage: Storage) -> None:
    form = storage.presigned_post(_key(), content_type="text/plain", max_size=5)
    other = _key()  # e.g. another user's input key
    assert _post(form, b"hello", key=other).status_code == 403
    assert storage.head(other) is None


def test_other_lengths_are_rejected(storage: Storage) -> None:
    key = _key()
    form = storage.presigned_post(key, content_type="text/plain", max_size=5)
    assert _post(form, b"hello, world").status_code == 400  # EntityTooLarge
    assert _post(form, b"hell").status_code == 400  # EntityTooSmall
    assert storage.head(key) is None


def test_wrong_content_type_is_rejected(storage: Storage) -> None:
    key = _key()
    form = storage.presigned_post(key, content_type="text/plain", max_size=5)
    assert _post(form, b"hello", **{"Content-Type": "text/html"}).status_code == 403
    assert storage.head(key) is None


def test_an_unsigned_or_tampered_form_is_rejected(storage: Storage) -> None:
    key = _key()
    form = storage.presigned_post(key, content_type="text/plain", max_size=5)
    unsigned = {k: v for k, v in form["fields"].items() if k in ("key", "Content-Type")}
    resp = requests.post(form["url"], data=unsigned, files={"file": ("f", b"hello")}, timeout=30)
    assert resp.status_code == 403
    forged = form["fields"]["x-amz-signature"][:-4] + "0000"
    assert _post(form, b"hello", **{"x-amz-signature": forged}).status_code == 403
    assert storage.head(key) is None


def test_expired_urls_are_refused(storage: Storage) -> None:
    key, readable = _key(), _key()
    storage.put_bytes(readable, b"secret", "text/plain")
    form = storage.presigned_post(key, content_type="text/plain", max_size=5, expires_s=1)
    link = storage.presigned_get(readable, expires_s=1)
    plan = storage.presigned_multipart(_key(), size=MiB, content_type="text/plain", expires_s=1)
    time.sleep(2.5)
    assert _post(form, b"hello").status_code == 403
    assert storage.head(key) is None
    assert requests.get(link, timeout=10).status_code == 403
    assert requests.put(plan["parts"][0]["url"], data=b"x" * MiB, timeout=30).status_code == 403


def test_a_part_url_cannot_write_another_part_or_length(storage: Storage) -> None:
    key = _key()
    plan = storage.presigned_multipart(key, size=9 * MiB, content_type="text/plain")
    first, last = plan["parts"][0]["url"], plan["parts"][-1]["url"]  # last: exactly 1 MiB
    try:
        assert requests.put(last, data=b"x" * MiB + b"!", timeout=60).status_code == 403
        other_part = last.replace("partNumber=2", "partNumber=3")
        assert other_part != last
        assert requests.put(other_part, data=b"x" * MiB, timeout=60).status_code == 403
        other_key = _with_path(first, urlsplit(first).path.replace("/input/", "/artifacts/"))
        assert requests.put(other_key, data=b"x" * 8 * MiB, timeout=60).status_code == 403
        assert [p["part_number"] for p in storage.list_parts(key, plan["upload_id"])] == []
        assert requests.put(last, data=b"x" * MiB, timeout=60).status_code == 200
    finally:
        storage.abort_multipart(key, plan["upload_id"])


def test_a_download_link_cannot_be_repointed(storage: Storage) -> None:
    mine, theirs = _key(), _key()
    storage.put_bytes(mine, b"mine", "text/plain")
    storage.put_bytes(theirs, b"theirs", "text/plain")
    link = storage.presigned_get(mine, filename="result.txt")
    assert requests.get(link, timeout=10).content == b"mine"
    repointed = _with_path(link, urlsplit(link).path.replace(mine, theirs))
    assert requests.get(repointed, timeout=10).status_code == 403
    renamed = link.replace("result.txt", "evil.html")
    assert requests.get(renamed, timeout=10).status_code == 403


def test_the_bucket_is_not_readable_anonymously(storage: Storage, real_s3: str) -> None:
    key = _key()
    storage.put_bytes(key, b"private", "text/plain")
    listing = requests.get(f"{real_s3}/{storage.bucket}?list-type=2", timeout=10)
    assert listing.status_code == 403
    assert key not in listing.text
    assert requests.get(f"{real_s3}/{storage.bucket}/{key}", timeout=10).status_code == 403
    put = requests.put(f"{real_s3}/{storage.bucket}/{_key()}", data=b"x", timeout=10)
    assert put.status_code == 403


def test_a_withdrawn_upload_takes_no_more_parts(storage: Storage) -> None:
    key = _key()
    plan = storage.presigned_multipart(key, size=2 * MiB, content_type="text/plain")
    storage.discard_upload(key, plan["upload_id"])  # what cancel and expiry do
    assert requests.put(plan["parts"][0]["url"], data=b"x" * 2 * MiB, timeout=30).status_code == 404
    assert storage.head(key) is None
