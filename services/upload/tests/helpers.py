"""Helpers the upload tests share."""

from __future__ import annotations

import uuid

from backdrop_common import taskstore
from backdrop_testing.tokens import TokenMinter
from upload_service.resources import Resources

PUBLIC_URL = "http://gateway.test:8080"


class Users:
    """Makes users (ids + bearer headers) with tokens the app verifies through the JWKS."""

    def __init__(self, minter: TokenMinter) -> None:
        self.minter = minter

    def new(self) -> tuple[uuid.UUID, dict[str, str]]:
        """A fresh user id and its Authorization header."""
        user = uuid.uuid4()
        return user, {"Authorization": f"Bearer {self.minter.mint(user)}"}


def queued_key(res: Resources, task: taskstore.TaskRow) -> str:
    """The key of the task's verified input (set when the upload was accepted)."""
    row = taskstore.get_task(res.db, task["id"])
    assert row is not None and row["status"] != "awaiting_upload", row
    return str(row["object_key"])


def task_objects(res: Resources, task: taskstore.TaskRow) -> list[str]:
    """Every object stored under the task (input, verified copies, artifacts)."""
    prefix = f"users/{task['owner_id']}/tasks/{task['id']}/"
    listing = res.storage.s3.list_objects_v2(Bucket=res.storage.bucket, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]
