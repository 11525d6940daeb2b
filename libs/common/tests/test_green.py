"""The database pool's gate with threads and under gevent: borrowers wait for a free
connection, never exceed the pool, and get 503 ``Unavailable`` when none comes free in time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
from backdrop_common.db import Database
from backdrop_common.errors import Unavailable
from backdrop_common.green import bounded_semaphore, gevent_active

# Runs in a fresh interpreter: gevent's monkey-patching cannot be undone in this one.
_UNDER_GEVENT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    from psycogreen.gevent import patch_psycopg
    patch_psycopg()
    import json, sys
    import gevent, gevent.event
    from backdrop_common.db import Database
    from backdrop_common.errors import Unavailable

    db = Database(sys.argv[1], maxconn=2, keep_idle=2, acquire_timeout=5)
    holding, peak = 0, 0

    def work(cur):
        global holding, peak
        holding += 1
        peak = max(peak, holding)
        cur.execute("SELECT pg_sleep(0.05)")
        holding -= 1

    gevent.joinall([gevent.spawn(db.run, work, read=True) for _ in range(12)], raise_error=True)
    busy = Database(sys.argv[1], maxconn=1, acquire_timeout=0.2)
    refused = []
    held = gevent.event.Event()

    def hold():
        def sleep_holding(cur):
            held.set()
            cur.execute("SELECT pg_sleep(1)")
        busy.run(sleep_holding, read=True)

    def late():
        try:
            busy.run(lambda cur: cur.execute("SELECT 1"), read=True)
        except Unavailable as exc:
            refused.append(str(exc))

    first = gevent.spawn(hold)
    held.wait(10)
    gevent.joinall([first, gevent.spawn(late)], raise_error=True)
    print(json.dumps({"peak": peak, "refused": refused,
                      "gate": type(db._slots).__module__}))
    """
)


def test_under_gevent_borrowers_share_the_pool_and_time_out_cleanly(database_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_GEVENT, database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # Twelve greenlets, two connections: all succeed, and exactly two hold one at once (a
    # gate that let more through would show more; queries that blocked the worker, one).
    assert seen["peak"] == 2
    # A borrower that finds no free connection within acquire_timeout gets a clear 503.
    assert seen["refused"] == ["The database is busy; try again shortly."]
    # The gate is gevent's compiled semaphore, not threading's pure-Python one (the cost
    # that ``make bench``'s read-path figures measure).
    assert seen["gate"].startswith("gevent")


def test_with_threads_a_borrower_waits_then_times_out(database_url: str) -> None:
    assert not gevent_active()
    assert isinstance(bounded_semaphore(1), threading.BoundedSemaphore)
    db = Database(database_url, maxconn=1, acquire_timeout=0.2)
    holding = threading.Event()

    def hold(cur: Any) -> None:
        holding.set()
        cur.execute("SELECT pg_sleep(1)")

    holder = threading.Thread(target=db.run, args=(hold,))
    holder.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with pytest.raises(Unavailable, match="busy"):
            db.run(lambda cur: cur.execute("SELECT 1"), read=True)
        # It waited for the slot (acquire_timeout), then gave up before the holder let go.
        assert 0.15 < time.monotonic() - started < 0.9
        holder.join()
        # Once the slot is back, the next borrower is served.
        assert db.run(lambda cur: (cur.execute("SELECT 7 AS n"), cur.fetchone())[1]) == {"n": 7}
    finally:
        holder.join()
        db.close()
