"""Every built-in processor through the gateway, with the right answers."""

from __future__ import annotations

import gzip
import io

import requests
from PIL import Image

from tests.helpers import User


def _result(user: User, task_id: str) -> dict:
    done = user.wait(task_id)
    assert done["status"] == "succeeded", done
    doc: dict = user.client.result(task_id)
    return doc


def test_processor_catalogue(user: User) -> None:
    items = user.client.processors()
    names = {p["name"] for p in items}
    assert {"checksum", "text-stats", "csv-profile", "image-thumbnail", "gzip"} <= names
    assert all(isinstance(p["params_schema"], dict) for p in items)


def test_text_stats(user: User) -> None:
    text = b"the quick brown fox\njumps over the lazy dog\nthe end\n"
    task = user.submit("text-stats", text, params={"top": 2}, content_type="text/plain")
    result = _result(user, task["id"])["result"]
    assert result["lines"] == 3 and result["words"] == 11 and result["bytes"] == len(text)
    assert result["top_words"][0] == ["the", 3]


def test_csv_profile(user: User) -> None:
    data = b"id,name,score\n1,ann,3.5\n2,bob,\n3,cy,9.25\n"
    task = user.submit("csv-profile", data, content_type="text/csv")
    result = _result(user, task["id"])["result"]
    assert result["rows"] == 3
    cols = {c["name"]: c for c in result["columns"]}
    assert cols["id"]["type"] == "integer" and cols["id"]["min"] == 1 and cols["id"]["max"] == 3
    assert cols["score"]["nulls"] == 1 and cols["score"]["type"] == "float"


def test_image_thumbnail_artifact(user: User) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (800, 400), (200, 30, 30)).save(buf, "PNG")
    task = user.submit(
        "image-thumbnail",
        buf.getvalue(),
        content_type="image/png",
        params={"max_width": 100, "max_height": 100, "format": "png"},
    )
    doc = _result(user, task["id"])
    assert doc["result"]["width"] == 800 and doc["result"]["thumbnail"] == {
        "width": 100,
        "height": 50,
    }
    art = doc["artifacts"][0]
    assert art["name"] == "thumbnail.png" and art["expires_at"]
    img = Image.open(io.BytesIO(requests.get(art["url"], timeout=30).content))
    assert img.size == (100, 50) and img.format == "PNG"


def test_gzip_round_trip(user: User) -> None:
    data = b"backdrop " * 50_000
    task = user.submit("gzip", data, params={"level": 9}, filename="words.txt")
    doc = _result(user, task["id"])
    art = doc["artifacts"][0]
    assert art["name"] == "words.txt.gz"
    assert gzip.decompress(requests.get(art["url"], timeout=30).content) == data
    assert doc["result"]["input_bytes"] == len(data)


def test_corrupt_image_fails_cleanly(user: User) -> None:
    task = user.submit(
        "image-thumbnail", b"\x89PNG\r\n\x1a\n" + b"garbage" * 100, content_type="image/png"
    )
    done = user.wait(task["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "invalid_input"
    assert "Traceback" not in done["error"]["message"]
    assert user.get(f"/v1/tasks/{task['id']}/result").status_code == 409
