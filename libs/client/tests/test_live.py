"""All of a user's tasks live (``GET /v1/events``): the SDK's ``all_events`` and ``backdrop
tail``, which follow the stream, resume after the last id and outlive the access token."""

from __future__ import annotations

import itertools
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from backdrop_client import Client, Event

from tests.helpers import SHORT_TTL_S
from tests.stack import Stack

BACKDROP_BIN = Path(sys.executable).with_name("backdrop")
T = TypeVar("T")


def _collect(items: Iterable[T]) -> queue.Queue[T]:
    """Read ``items`` in a daemon thread (a live stream runs for ever) into a queue."""
    got: queue.Queue[T] = queue.Queue()

    def read() -> None:
        for item in items:
            got.put(item)

    threading.Thread(target=read, daemon=True).start()
    return got


def _connect(submit: Callable[[], str], got: queue.Queue[T], about: Callable[[T], str]) -> list[T]:
    """Submit probe tasks until the follower reports one (a fresh stream starts with what
    happens next, so this is how a test knows it is connected); what it read meanwhile."""
    read: list[T] = []
    for _ in range(20):
        probe = submit()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                read.append(got.get(timeout=0.2))
            except queue.Empty:
                continue
            if probe in about(read[-1]):
                return read
    pytest.fail(f"the live stream never reported a probe task (read {read})")


def _until_terminal(got: queue.Queue[Event], task_id: str, timeout: float = 60) -> list[Event]:
    """Every event read from ``got`` up to the terminal status of ``task_id``."""
    read: list[Event] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read.append(got.get(timeout=1))
        except queue.Empty:
            continue
        if read[-1].task["id"] == task_id and read[-1].terminal:
            return read
    pytest.fail(f"no terminal event of {task_id} within {timeout}s (read {read})")


def _gzip(client: Client, data: bytes = b"probe") -> str:
    return str(client.submit("gzip", data, params={"level": 1})["id"])


def test_all_events_filters_orders_and_resumes(client: Client) -> None:
    got = _collect(client.fork().all_events(processor="gzip"))
    _connect(lambda: _gzip(client), got, lambda e: e.task["id"])

    other = client.submit("text-stats", b"one two two", params={"top": 1})
    client.wait(other["id"], timeout=60)
    task_id = _gzip(client, os.urandom(256 * 1024))
    read = _until_terminal(got, task_id)
    assert all(e.task["processor"] == "gzip" for e in read)  # the filter held
    mine = [e.task["status"] for e in read if e.task["id"] == task_id and e.kind == "status"]
    assert mine[0] == "awaiting_upload" and "queued" in mine and mine[-1] == "succeeded"
    assert all(e.id for e in read)

    # Resumed after an id, the stream delivers what followed it: in order, nothing twice.
    start = next(i for i, e in enumerate(read) if e.task["id"] == task_id)
    expected = [e.id for e in read[start + 1 :]]
    resumed = client.fork().all_events(processor="gzip", last_event_id=read[start].id)
    assert [e.id for e in itertools.islice(resumed, len(expected))] == expected


def test_all_events_outlives_the_access_token(short_lived: tuple[Client, Client, str]) -> None:
    client, short, _ = short_lived
    first_refresh = short.refresh_token
    got = _collect(short.all_events())
    _connect(lambda: _gzip(client), got, lambda e: e.task["id"])

    # The server ends the stream with ``end`` (token_expired) within its auth check
    # interval (5 s) after the expiry; the follower refreshes and resumes.
    time.sleep(SHORT_TTL_S + 7)
    task_id = _gzip(client)
    read = _until_terminal(got, task_id)
    assert read[-1].task["status"] == "succeeded"
    assert short.refresh_token != first_refresh  # the stream's token was renewed


def _lines(proc: subprocess.Popen[str]) -> Iterator[str]:
    assert proc.stdout is not None
    yield from proc.stdout


def test_tail_prints_a_line_per_change(stack: Stack, cli_user: tuple[str, str]) -> None:
    name, password = cli_user
    client = Client(stack.gateway_url)
    client.login(name, password)
    proc = subprocess.Popen(
        [str(BACKDROP_BIN), "--url", stack.gateway_url, "tail", "--processor", "gzip"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        got = _collect(_lines(proc))
        _connect(lambda: _gzip(client), got, lambda line: line)
        task_id = _gzip(client)
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while not any(task_id in x and "succeeded" in x for x in lines):
            assert time.monotonic() < deadline, f"no 'succeeded' line for {task_id}: {lines}"
            try:
                lines.append(got.get(timeout=1))
            except queue.Empty:
                assert proc.poll() is None, proc.communicate()
        assert all("gzip" in line for line in lines)  # one task line each, filtered
    finally:
        proc.terminate()
        proc.wait(timeout=10)
