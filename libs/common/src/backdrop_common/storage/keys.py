"""Object keys: where a task's files live, and the filename sanitiser behind them."""

from __future__ import annotations

import math
import re
import unicodedata
import uuid

MiB = 1024 * 1024
MIN_PART_SIZE = 8 * MiB  # S3's floor is 5 MiB; 8 MiB keeps part counts low
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB  # 5 TiB, S3's limit
MAX_FILENAME_BYTES = 200  # keeps users/<uuid>/tasks/<uuid>/input/<name> far below 1024
# Characters S3 and URLs handle without escaping surprises; everything else becomes "_".
_UNSAFE = re.compile(r"[^\w\-. ()+,=@!']")


def sanitize_filename(name: str) -> str:
    """A safe, display-faithful basename for object keys (the original stays in the DB).

    NFKC first, so look-alikes such as the fullwidth solidus and full stop become the
    ASCII they imitate before the path is cut; control/format characters (NUL, RTL override) go.
    """
    name = unicodedata.normalize("NFKC", name or "").replace("\\", "/")
    name = name.rsplit("/", 1)[-1]
    name = re.sub(r"\s+", " ", name)  # tabs and newlines first, before controls go
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\.{2,}", ".", name).strip(" .")
    if len(name.encode()) > MAX_FILENAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        if not dot or len(ext.encode()) > 16:
            stem, ext = name, ""
        room = MAX_FILENAME_BYTES - len(ext.encode()) - (1 if ext else 0)
        stem = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
        name = f"{stem}.{ext}" if ext else stem
    return name or "file"


def input_key(owner_id: uuid.UUID | str, task_id: uuid.UUID | str, filename: str) -> str:
    """``users/<owner>/tasks/<task>/input/<sanitised filename>``."""
    return f"users/{owner_id}/tasks/{task_id}/input/{sanitize_filename(filename)}"


def verified_key(owner_id: uuid.UUID | str, task_id: uuid.UUID | str) -> str:
    """``users/<owner>/tasks/<task>/verified/<random>``: where checked input bytes are kept.

    No URL handed to a client ever names this prefix, and each verification writes a key of
    its own, so nothing but the service can replace the bytes a worker will process.
    """
    return f"users/{owner_id}/tasks/{task_id}/verified/{uuid.uuid4().hex}"


def artifact_key(owner_id: uuid.UUID | str, task_id: uuid.UUID | str, name: str) -> str:
    """``users/<owner>/tasks/<task>/artifacts/<sanitised name>``."""
    return f"users/{owner_id}/tasks/{task_id}/artifacts/{sanitize_filename(name)}"


def multipart_part_size(size: int) -> int:
    """Part size for ``size`` bytes: at least 8 MiB, whole MiB, at most 10,000 parts."""
    if size > MAX_OBJECT_SIZE:
        raise ValueError("object larger than 5 TiB")
    return max(MIN_PART_SIZE, math.ceil(size / MAX_PARTS / MiB) * MiB)
