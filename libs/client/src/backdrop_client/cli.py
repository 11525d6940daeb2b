"""The ``backdrop`` command: sign in, submit files with progress bars, watch, cancel, fetch."""

from __future__ import annotations

import json
import mimetypes
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from backdrop_client.client import TERMINAL, ApiError, Client, default_url, sha256_file

CREDENTIALS = Path(os.environ.get("BACKDROP_CREDENTIALS", Path.home() / ".config/backdrop/token"))


def _client(ctx: click.Context) -> Client:
    client: Client = ctx.obj
    if client.token is None and CREDENTIALS.exists():
        client.token = CREDENTIALS.read_text().strip()
    return client


def _parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="--param")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


@click.group()
@click.option("--url", default=default_url, show_default="$BACKDROP_URL or :8080")
@click.pass_context
def main(ctx: click.Context, url: str) -> None:
    """Backdrop: process files in the background and watch them happen."""
    ctx.obj = Client(url)


@main.command()
@click.argument("identifier")
@click.password_option(confirmation_prompt=False)
@click.pass_context
def login(ctx: click.Context, identifier: str, password: str) -> None:
    """Sign in and remember the access token."""
    client = ctx.obj
    client.login(identifier, password)
    CREDENTIALS.parent.mkdir(parents=True, exist_ok=True)
    CREDENTIALS.write_text(client.token or "")
    CREDENTIALS.chmod(0o600)
    click.echo(f"signed in as {client.me()['username']}")


def submit_file(client: Client, path: Path, processor: str, params: dict[str, Any]) -> Any:
    """Create a task for ``path``, upload it with a progress bar; returns the queued Task."""
    size = path.stat().st_size
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    created = client.create_task(
        processor,
        path.name,
        size,
        ctype,
        params,
        sha256=sha256_file(path),
        idempotency_key=str(uuid.uuid4()),
    )
    task_id = created["task"]["id"]
    with tqdm(
        total=size, unit="B", unit_scale=True, desc=f"upload {path.name}", leave=False
    ) as bar:
        return client.upload(task_id, created["upload"], path, bar.update)


def watch_task(client: Client, task_id: str, label: str = "") -> Any:
    """Show a progress bar from the live event stream until the task finishes."""
    task: Any = client.get_task(task_id)
    with tqdm(total=100, desc=label or task_id[:8], unit="%", leave=True) as bar:
        for _event, task in client.events(task_id):
            bar.n = round(100 * float(task["progress"]["fraction"] or 0))
            bar.set_postfix_str(f"{task['status']} {task['progress'].get('stage') or ''}")
            bar.refresh()
            if task["status"] in TERMINAL:
                break
    return task


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--processor", "-p", required=True)
@click.option("--param", "params", multiple=True, help="key=value (JSON values allowed)")
@click.option("--watch/--no-watch", default=True)
@click.pass_context
def submit(
    ctx: click.Context, path: Path, processor: str, params: tuple[str, ...], watch: bool
) -> None:
    """Upload a file and process it."""
    client = _client(ctx)
    task = submit_file(client, path, processor, _parse_params(params))
    click.echo(f"task {task['id']} {task['status']}")
    if watch:
        task = watch_task(client, task["id"])
        _print_outcome(client, task)


@main.command()
@click.argument("task_id")
@click.pass_context
def watch(ctx: click.Context, task_id: str) -> None:
    """Follow a task's progress live."""
    client = _client(ctx)
    _print_outcome(client, watch_task(client, task_id))


@main.command()
@click.argument("task_id")
@click.pass_context
def cancel(ctx: click.Context, task_id: str) -> None:
    """Cancel a task."""
    task = _client(ctx).cancel(task_id)
    click.echo(f"task {task_id} {task['status']} (cancel requested: {task['cancel_requested']})")


@main.command()
@click.argument("task_id")
@click.option("--download", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def result(ctx: click.Context, task_id: str, download: Path | None) -> None:
    """Print a task's result (and download its artifacts)."""
    client = _client(ctx)
    doc = client.result(task_id)
    click.echo(json.dumps(doc["result"], indent=2))
    for art in doc["artifacts"]:
        if download:
            download.mkdir(parents=True, exist_ok=True)
            dest = client.download(art["url"], download / art["name"])
            click.echo(f"artifact {art['name']} ({art['size']} bytes) -> {dest}")
        else:
            click.echo(f"artifact {art['name']} ({art['size']} bytes): {art['url']}")


@main.command(name="tasks")
@click.option("--status")
@click.pass_context
def list_tasks(ctx: click.Context, status: str | None) -> None:
    """List your tasks, newest first."""
    for task in _client(ctx).list_tasks(status=status):
        click.echo(f"{task['id']}  {task['status']:16} {task['processor']:16} {task['filename']}")


def _print_outcome(client: Client, task: Any) -> None:
    if task["status"] == "succeeded":
        doc = client.result(task["id"])
        click.echo(f"  result: {json.dumps(doc['result'])}")
        for art in doc["artifacts"]:
            click.echo(f"  artifact: {art['name']} ({art['size']} bytes)")
    else:
        click.echo(f"  {task['status']}: {json.dumps(task.get('error'))}")


@main.command()
@click.option("--username", default="demo")
@click.option("--password", default="demo-password-123")
@click.pass_context
def demo(ctx: click.Context, username: str, password: str) -> None:
    """The main job: sign in a demo user, submit a sample file per processor, show results."""
    from backdrop_client.samples import write_samples

    client: Client = ctx.obj
    try:
        client.register(f"{username}@example.com", username, password, "Demo User")
        click.echo(f"registered {username}")
    except ApiError as exc:
        if exc.code != "conflict":
            raise
    client.login(username, password)
    me = client.me()
    click.echo(f"signed in as {me['username']} <{me['email']}> roles={me['roles']}")
    samples = write_samples(Path(tempfile.gettempdir()) / "backdrop-demo")
    names = {p["name"] for p in client.processors()}
    for processor, (path, params) in samples.items():
        if processor not in names:
            click.echo(f"{processor}: not offered by this deployment, skipped")
            continue
        task = submit_file(client, path, processor, params)
        click.echo(f"{processor}: task {task['id']} {task['status']}")
        task = watch_task(client, task["id"], processor)
        _print_outcome(client, task)
