"""What the ``backdrop`` command keeps between runs, in the user's config directory.

``session.json`` holds the tokens of each gateway URL signed in to; ``uploads/`` holds one
journal per unfinished multipart upload (its Idempotency-Key and the parts storage has
confirmed), which ``backdrop submit --resume`` continues from. Files are written atomically
with mode 0600 (they hold credentials), the directory with 0700.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import click

from backdrop_client.credentials import Credentials


def config_dir() -> Path:
    """``$BACKDROP_CONFIG_DIR``, else the platform's config dir (``~/.config/backdrop``)."""
    return Path(os.environ.get("BACKDROP_CONFIG_DIR") or click.get_app_dir("backdrop"))


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _write(path: Path, doc: dict[str, Any]) -> None:
    """Replace ``path`` atomically; the file never exists with wider permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=2)
    os.replace(tmp, path)


class SessionStore:
    """Tokens per gateway URL in ``session.json``."""

    def __init__(self, folder: Path | None = None) -> None:
        self.path = (folder or config_dir()) / "session.json"

    def credentials(self, url: str) -> Credentials:
        """The stored session for ``url``; every later refresh or logout is saved back."""
        saved = _read(self.path).get("sessions", {}).get(url, {})
        creds = Credentials(
            saved.get("access_token"), saved.get("refresh_token"), saved.get("expires_at")
        )
        creds.on_change = lambda c: self.save(url, c)
        return creds

    def save(self, url: str, creds: Credentials) -> None:
        """Store (or, with no tokens left, remove) the session of ``url``."""
        doc = _read(self.path)
        sessions = doc.setdefault("sessions", {})
        if creds.access_token or creds.refresh_token:
            sessions[url] = creds.as_dict()
        else:
            sessions.pop(url, None)
        _write(self.path, doc)


class UploadJournal:
    """The state of one resumable upload: the create request and the parts stored so far."""

    def __init__(self, url: str, sha256: str, processor: str, params: dict[str, Any]) -> None:
        ident = json.dumps([url, sha256, processor, params], sort_keys=True).encode()
        name = hashlib.sha256(ident).hexdigest()[:32]
        self.path = config_dir() / "uploads" / f"{name}.json"
        self.doc = _read(self.path)

    @property
    def exists(self) -> bool:
        """True when an earlier attempt left this journal."""
        return bool(self.doc)

    def start(self, idempotency_key: str, task_id: str) -> None:
        """Record a new attempt (the key lets ``--resume`` get the same task back)."""
        self.doc = {"idempotency_key": idempotency_key, "task_id": task_id, "parts": {}}
        _write(self.path, self.doc)

    def parts(self) -> dict[int, str]:
        """Parts storage confirmed: part number → ETag."""
        return {int(n): str(etag) for n, etag in self.doc.get("parts", {}).items()}

    def part_stored(self, number: int, etag: str) -> None:
        """Record one more part (written at once: the process may be killed any time)."""
        self.doc.setdefault("parts", {})[str(number)] = etag
        _write(self.path, self.doc)

    def finish(self) -> None:
        """The upload completed: nothing left to resume."""
        self.path.unlink(missing_ok=True)
