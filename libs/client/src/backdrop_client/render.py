"""How the ``backdrop`` command shows things: progress bars, task lines, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from backdrop_contract.states import TERMINAL
from tqdm import tqdm

from backdrop_client.client import Client, Task
from backdrop_client.errors import ApiError, BackdropError, Unreachable
from backdrop_client.transfer import ProgressFn


@contextmanager
def byte_bar(total: int, label: str) -> Iterator[ProgressFn]:
    """A bytes progress bar (on stderr) that stays on screen; yields its update function."""
    with tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=True) as bar:
        yield bar.update


def watch_bar(client: Client, task_id: str, label: str = "") -> Task:
    """Follow a task's live events with a percentage bar until it finishes; the last Task."""
    task: Task = client.get_task(task_id)
    with tqdm(total=100, desc=label or task_id[:8], unit="%", leave=True) as bar:
        if task["status"] in TERMINAL:
            _show(bar, task)
            return task
        for event in client.events(task_id):
            task = event.task
            _show(bar, task)
            if event.terminal:
                break
    return task


def _show(bar: Any, task: Task) -> None:
    fraction = float(task["progress"].get("fraction") or 0)
    bar.n = 100 if task["status"] == "succeeded" else round(100 * fraction)
    bar.set_postfix_str(f"{task['status']} {task['progress'].get('stage') or ''}".strip())
    bar.refresh()


def task_line(task: Task) -> str:
    """One line per task: id, status, progress, processor, file name."""
    fraction = task["progress"].get("fraction")
    percent = f"{round(100 * fraction):3d}%" if fraction is not None else "   -"
    return f"{task['id']}  {task['status']:15} {percent}  {task['processor']:16} {task['filename']}"


def outcome(client: Client, task: Task) -> None:
    """Print a finished task's result and artifacts, or why it did not succeed."""
    if task["status"] == "succeeded":
        doc = client.result(task["id"])
        click.echo(f"  result: {json.dumps(doc['result'])}")
        for art in doc["artifacts"]:
            click.echo(f"  artifact: {art['name']} ({art['size']} bytes)")
        return
    error = task.get("error") or {}
    why = f"{error.get('code')}: {error.get('message')}" if error else "no error recorded"
    click.echo(f"  {task['status']}: {why}")


def error_message(exc: BackdropError, url: str) -> str:
    """An error as a tool prints it: the problem in a line, then one line per field."""
    if isinstance(exc, Unreachable):
        return f"cannot reach {exc.url} ({exc.reason}); is the gateway running? (--url)"
    if isinstance(exc, ApiError):
        if exc.status == 401:
            return f"not signed in to {url} (or the session ended): run `backdrop login`"
        text = exc.detail or exc.title or "the request failed"
        lines = [f"{text} ({exc.status} {exc.code})".rstrip()]
        lines += [f"  {field}: {' '.join(msgs)}" for field, msgs in exc.field_errors.items()]
        if exc.retry_after:
            lines.append(f"  retry after {exc.retry_after:g} s")
        return "\n".join(lines)
    return str(exc)
