"""The ``backdrop`` command: sign in, submit files with progress bars, watch, list, cancel."""

from __future__ import annotations

import json
import mimetypes
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import click

from backdrop_client import render
from backdrop_client.client import Client, Task
from backdrop_client.errors import ApiError, BackdropError
from backdrop_client.store import SessionStore, UploadJournal
from backdrop_client.transfer import sha256_file, source_size
from backdrop_client.transport import default_url


class _Group(click.Group):
    """Turns the client's errors into a short message on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BackdropError as exc:
            url = ctx.obj.base_url if isinstance(ctx.obj, Client) else default_url()
            click.echo(f"error: {render.error_message(exc, url)}", err=True)
            ctx.exit(1)


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


@click.group(cls=_Group)
@click.option("--url", default=default_url, show_default="$BACKDROP_URL or :8080")
@click.pass_context
def main(ctx: click.Context, url: str) -> None:
    """Backdrop: process files in the background and watch them happen."""
    url = url.rstrip("/")
    ctx.obj = Client(url, credentials=SessionStore().credentials(url))


@main.command()
@click.argument("identifier")
@click.password_option(confirmation_prompt=False, envvar="BACKDROP_PASSWORD")
@click.pass_obj
def login(client: Client, identifier: str, password: str) -> None:
    """Sign in (username or email); the session is kept and renewed until you log out."""
    client.login(identifier, password)
    click.echo(f"signed in as {client.me()['username']}")


@main.command()
@click.pass_obj
def logout(client: Client) -> None:
    """End the session on the server and forget it here."""
    if client.credentials.refresh_token or client.credentials.access_token:
        client.logout()
    click.echo("signed out")


def submit_file(
    client: Client, path: Path, processor: str, params: dict[str, Any], resume: bool = False
) -> Task:
    """Create a task for ``path`` and upload it with a progress bar; returns the Task.

    Multipart uploads keep a journal of stored parts; with ``resume`` an interrupted one
    continues from there (same task, via its Idempotency-Key) instead of starting over.
    """
    sha256 = sha256_file(path)
    journal = UploadJournal(client.base_url, sha256, processor, params)
    if resume and not journal.exists:
        click.echo(f"no interrupted upload of {path.name} to resume; starting a new one")
    key = journal.doc["idempotency_key"] if resume and journal.exists else str(uuid.uuid4())
    stored = journal.parts() if resume and journal.exists else {}
    size = source_size(path)
    created = client.create_task(
        processor, path.name, size, _content_type(path), params, sha256, idempotency_key=key
    )
    task: Task = created["task"]
    upload = created["upload"]
    if upload is None:  # a resumed task whose bytes had all arrived already
        journal.finish()
        return task
    if upload["method"] == "MULTIPART" and not stored:
        journal.start(key, task["id"])
    elif stored:
        click.echo(
            f"resuming task {task['id']}: {len(stored)} of {len(upload['parts'])} parts stored"
        )
    with render.byte_bar(size, f"upload {path.name}") as on_bytes:
        queued = client.upload(
            task["id"],
            upload,
            path,
            on_bytes,
            filename=path.name,
            stored_parts=stored,
            on_part=journal.part_stored if upload["method"] == "MULTIPART" else None,
        )
    journal.finish()
    return queued


def _content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--processor", "-p", required=True, help="A name from `GET /v1/processors`.")
@click.option("--param", "params", multiple=True, help="key=value (JSON values allowed)")
@click.option("--resume", is_flag=True, help="Continue an interrupted upload of this file.")
@click.option("--watch/--no-watch", default=True, help="Follow the task until it finishes.")
@click.pass_obj
def submit(
    client: Client,
    path: Path,
    processor: str,
    params: tuple[str, ...],
    resume: bool,
    watch: bool,
) -> None:
    """Upload a file and process it."""
    task = submit_file(client, path, processor, _parse_params(params), resume)
    click.echo(f"task {task['id']} {task['status']}")
    if watch:
        render.outcome(client, render.watch_bar(client, task["id"]))


@main.command()
@click.argument("task_id")
@click.pass_obj
def watch(client: Client, task_id: str) -> None:
    """Follow one task's progress live (server-sent events) until it finishes."""
    render.outcome(client, render.watch_bar(client, task_id))


@main.command(name="ls")
@click.option("--status", help="Only tasks in this state.")
@click.option("--limit", default=20, show_default=True, help="How many, newest first.")
@click.pass_obj
def list_tasks(client: Client, status: str | None, limit: int) -> None:
    """List your tasks, newest first."""
    for task in client.list_page(status, limit)["items"]:
        click.echo(render.task_line(task))


@main.command()
@click.option("--status", help="Only these states (comma separated).")
@click.option("--processor", help="Only these processors (comma separated).")
@click.pass_obj
def tail(client: Client, status: str | None, processor: str | None) -> None:
    """Follow all your tasks live (server-sent events): a line whenever one changes, for
    as long as the session lasts (Ctrl-C stops)."""
    try:
        for event in client.all_events(status, processor):
            click.echo(f"{time.strftime('%H:%M:%S')}  {render.task_line(event.task)}")
    except KeyboardInterrupt:
        pass


@main.command()
@click.argument("task_id")
@click.pass_obj
def cancel(client: Client, task_id: str) -> None:
    """Cancel a task."""
    task = client.cancel(task_id)
    click.echo(f"task {task_id} {task['status']} (cancel requested: {task['cancel_requested']})")


@main.command()
@click.argument("task_id")
@click.option("--download", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def result(client: Client, task_id: str, download: Path | None) -> None:
    """Print a task's result (and download its artifacts)."""
    doc = client.result(task_id)
    click.echo(json.dumps(doc["result"], indent=2))
    for art in doc["artifacts"]:
        if download:
            download.mkdir(parents=True, exist_ok=True)
            dest = client.download(art["url"], download / art["name"])
            click.echo(f"artifact {art['name']} ({art['size']} bytes) -> {dest}")
        else:
            click.echo(f"artifact {art['name']} ({art['size']} bytes): {art['url']}")


@main.command()
@click.option("--username", default="demo")
@click.option("--password", default="demo-password-123")
@click.pass_obj
def demo(client: Client, username: str, password: str) -> None:
    """The main job: sign in a demo user, submit a sample file per processor, show results."""
    from backdrop_client.samples import write_samples

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
        render.outcome(client, render.watch_bar(client, task["id"], processor))
