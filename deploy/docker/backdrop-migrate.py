"""One-shot start-up work, run once before the services (compose `migrate`, Kubernetes Job).

    backdrop-entrypoint migrate        (in the auth image: it has every schema's migrations)

1. the ``auth`` schema and an active signing key: ``backdrop-auth migrate`` (auth image only);
2. the ``tasks`` schema: ``backdrop_common.taskstore.migrate_tasks``, the same call the gateway,
   upload and worker make at start (the gateway has no CLI of its own);
3. the services' own PostgreSQL roles, ``backdrop_auth`` and ``backdrop_tasks``, with their
   passwords (``BACKDROP_DB_AUTH_PASSWORD``, ``BACKDROP_DB_TASKS_PASSWORD``) and exactly the
   grants of their schema (``backdrop_common.dbroles``); this script connects as the owner
   (``BACKDROP_DATABASE_URL``), the services then as their role;
4. the bucket, with its abort-incomplete-multipart lifecycle rule (``Storage.ensure_bucket``);
   ``BACKDROP_MIGRATE_BUCKET=0`` skips it (a bucket managed elsewhere, e.g. by Terraform).

Every step is idempotent (migrations advisory-locked), so running it twice, or next to
services that migrate at start, is safe. Dependencies that are not up yet are retried for
``BACKDROP_MIGRATE_WAIT_S`` seconds (default 120): a Kubernetes Job has no depends_on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable


def _retry(what: str, step: Callable[[], object], deadline: float) -> object:
    delay = 1.0
    while True:
        try:
            return step()
        except Exception as exc:
            if time.monotonic() + delay > deadline:
                print(f"backdrop-migrate: {what} failed: {exc!r}", file=sys.stderr, flush=True)
                raise
            print(f"backdrop-migrate: {what} not possible yet ({exc!r}); retrying", flush=True)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def main() -> int:
    from backdrop_common.db import Database
    from backdrop_common.dbroles import RoleSettings, ensure_service_roles
    from backdrop_common.storage import Storage
    from backdrop_common.taskstore import migrate_tasks

    deadline = time.monotonic() + float(os.environ.get("BACKDROP_MIGRATE_WAIT_S", "120"))
    settings = RoleSettings()

    if shutil.which("backdrop-auth"):

        def auth() -> None:
            subprocess.run(["backdrop-auth", "migrate"], check=True)

        _retry("auth schema", auth, deadline)
    else:
        print(
            "backdrop-migrate: no backdrop-auth here (not the auth image); the auth service "
            "migrates its schema at start",
            flush=True,
        )

    db = Database(settings.database_url, maxconn=1)
    applied = _retry("tasks schema", lambda: migrate_tasks(db), deadline)
    print(
        f"backdrop-migrate: tasks schema up to date (applied: {applied or 'nothing'})", flush=True
    )
    _retry("service roles", lambda: ensure_service_roles(db, settings.passwords()), deadline)
    db.close()
    print("backdrop-migrate: roles backdrop_auth, backdrop_tasks granted", flush=True)

    if os.environ.get("BACKDROP_MIGRATE_BUCKET", "1") != "0":
        storage = Storage(settings)
        _retry("bucket", storage.ensure_bucket, deadline)
        print(f"backdrop-migrate: bucket {settings.s3_bucket} ready", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
