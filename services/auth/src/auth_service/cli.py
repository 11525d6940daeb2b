"""``backdrop-auth``: migrate, rotate-key, create-admin."""

from __future__ import annotations

import sys

import click
from backdrop_common.auth_schemas import RegisterSchema
from backdrop_common.body import load
from backdrop_common.errors import BackdropError, ValidationFailed
from backdrop_common.migrations import migrate as run_migrations
from backdrop_common.tokens import ROLES

from auth_service import users_table
from auth_service.resources import MIGRATIONS, Resources
from auth_service.settings import AuthSettings


def _resources(ctx: click.Context, *, migrate: bool = False) -> Resources:
    """The auth resources; the schema migrated first when asked or BACKDROP_MIGRATE_ON_START.

    ``create-admin`` and ``rotate-key`` run in the auth container as ``backdrop_auth``, which
    may not change the schema: there only ``migrate`` (run as the owner) migrates.
    """
    # Tests pass settings as ``obj``; otherwise they come from BACKDROP_* variables.
    settings = ctx.obj if isinstance(ctx.obj, AuthSettings) else AuthSettings()
    auth = Resources.from_settings(settings)
    ctx.call_on_close(auth.close)
    if migrate or settings.migrate_on_start:
        run_migrations(auth.db, "auth", MIGRATIONS)
    return auth


@click.group()
def cli() -> None:
    """Administer the Backdrop auth service (settings from BACKDROP_* variables)."""


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply the auth schema's migrations and make sure a signing key exists."""
    auth = _resources(ctx, migrate=True)
    kid = auth.keys.ensure_active()
    click.echo(f"auth schema up to date; active signing key {kid}")


@cli.command("rotate-key")
@click.pass_context
def rotate_key(ctx: click.Context) -> None:
    """Make a new active signing key; older keys stay published until their tokens expire."""
    auth = _resources(ctx)
    kid = auth.keys.rotate()
    click.echo(f"new active signing key {kid}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@cli.command("create-admin")
@click.option("--email", required=True, help="The admin's email address.")
@click.option("--username", required=True, help="The admin's username.")
@click.option("--name", default=None, help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def create_admin(
    ctx: click.Context, email: str, username: str, name: str | None, password_stdin: bool
) -> None:
    """Create a user with every role, up to admin (the password is never taken from argv).

    This is the bootstrap: further roles are granted by an admin through the API."""
    password = _read_password(password_stdin)
    try:
        data = load(
            RegisterSchema,
            {"email": email, "username": username, "password": password, "name": name},
        )
    except ValidationFailed as exc:
        problems = "; ".join(
            f"{k}: {' '.join(map(str, v))}" for k, v in exc.extra["errors"].items()
        )
        raise click.ClickException(f"invalid input: {problems}") from exc
    auth = _resources(ctx)
    try:
        row = users_table.create_user(
            auth.db,
            email=data["email"],
            username=data["username"],
            name=data["name"],
            password_hash=auth.passwords.hash(data["password"]),
            roles=ROLES,
        )
    except BackdropError as exc:
        raise click.ClickException(exc.detail) from exc
    if row is None:  # the operator may know: the CLI is not reachable from outside
        raise click.ClickException("This email is already taken.")
    click.echo(f"created admin {row['username']} ({row['id']})")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="backdrop-auth")


if __name__ == "__main__":
    main()
