"""Every built-in processor, run end to end by a worker subprocess."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from typing import Any

import pytest
from PIL import Image

from tests.helpers import pending, wait_for


def _png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _artifact(storage: Any, row: dict[str, Any], name: str) -> bytes:
    (doc,) = [a for a in row["artifacts"] if a["name"] == name]
    body = storage.open_read(doc["key"])
    try:
        data: bytes = body.read()
    finally:
        body.close()
    assert doc["size"] == len(data)
    return data


@pytest.fixture
def worker(start_worker: Any) -> Any:
    return start_worker("--processors", "checksum,text-stats,csv-profile,image-thumbnail,gzip")


def test_checksum_matches_hashlib(worker: Any, tasks: Any, redis_client: Any) -> None:
    data = bytes(range(256)) * 5000
    row = tasks("checksum", data, {"algorithms": ["sha256", "md5", "blake2b"]})
    done = tasks.wait_status(row["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert done["result"]["bytes"] == len(data)
    assert done["result"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert done["result"]["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324
    assert done["result"]["blake2b"] == hashlib.blake2b(data).hexdigest()
    assert done["attempts"] == 1 and done["progress_fraction"] == 1
    # The ACK follows the durable final state (never the other way round), so the row can
    # say succeeded a moment before the message leaves the pending list.
    wait_for(lambda: pending(redis_client, "checksum") == 0, 5)


def test_gzip_artifact_round_trips(worker: Any, tasks: Any, storage: Any) -> None:
    data = b"backdrop gzip round trip\n" * 20000
    row = tasks("gzip", data, {"level": 6}, filename="notes.txt", content_type="text/plain")
    done = tasks.wait_status(row["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert done["result"]["input_bytes"] == len(data)
    compressed = _artifact(storage, done, "notes.txt.gz")
    assert gzip.decompress(compressed) == data
    assert done["result"]["output_bytes"] == len(compressed)


def test_thumbnail_artifact_opens_with_pillow(worker: Any, tasks: Any, storage: Any) -> None:
    params = {"max_width": 16, "max_height": 16, "format": "png"}
    row = tasks("image-thumbnail", _png(), params, filename="pic.png", content_type="image/png")
    done = tasks.wait_status(row["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert (done["result"]["width"], done["result"]["height"]) == (64, 48)
    image = Image.open(io.BytesIO(_artifact(storage, done, "thumbnail.png")))
    assert image.format == "PNG" and max(image.size) <= 16
    assert list(image.size) == [
        done["result"]["thumbnail"]["width"],
        done["result"]["thumbnail"]["height"],
    ]


def test_text_stats(worker: Any, tasks: Any) -> None:
    data = b"the cat and the hat\nthe end\n"
    row = tasks("text-stats", data, {"top": 2}, filename="t.txt", content_type="text/plain")
    done = tasks.wait_status(row["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert (result["lines"], result["words"], result["bytes"]) == (2, 7, len(data))
    assert result["top_words"][0] == ["the", 3]


def test_csv_profile(worker: Any, tasks: Any) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "age"])
    writer.writerows([["ann", 31], ["bob", 42], ["cy", ""]])
    row = tasks(
        "csv-profile", out.getvalue().encode(), {}, filename="p.csv", content_type="text/csv"
    )
    done = tasks.wait_status(row["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert done["result"]["rows"] == 3
    columns = {c["name"]: c for c in done["result"]["columns"]}
    assert columns["age"]["nulls"] == 1 and columns["age"]["max"] in (42, "42", 42.0)
