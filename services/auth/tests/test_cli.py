"""The ``backdrop-auth`` command: migrate, create-admin."""

from __future__ import annotations

from auth_service.cli import cli
from click.testing import CliRunner

from tests.helpers import count_rows

ADMIN_PASSWORD = "an admin's long passphrase"


def _create_admin(settings, input_text: str, *extra: str):
    args = ["create-admin", "--email", "root@example.com", "--username", "root", *extra]
    return CliRunner().invoke(cli, args, input=input_text, obj=settings)


def test_create_admin_from_stdin(auth, ctx, clean) -> None:
    result = _create_admin(ctx.settings, ADMIN_PASSWORD + "\n", "--password-stdin")
    assert result.exit_code == 0, result.output
    assert ADMIN_PASSWORD not in result.output
    with clean.cursor() as cur:
        cur.execute("SELECT roles, password_hash FROM auth.users WHERE username = 'root'")
        row = cur.fetchone()
    assert row["roles"] == ["user", "operator", "admin"]
    assert row["password_hash"].startswith("$argon2id$")
    resp = auth.login("root", ADMIN_PASSWORD)
    assert resp.status_code == 200
    me = auth.client.get(
        "/v1/auth/me", headers={"Authorization": f"Bearer {resp.get_json()['access_token']}"}
    )
    assert me.get_json()["roles"] == ["user", "operator", "admin"]


def test_create_admin_prompts_twice(ctx, clean) -> None:
    result = _create_admin(ctx.settings, f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert ADMIN_PASSWORD not in result.output
    assert count_rows(clean, "users") == 1


def test_create_admin_refuses_bad_input_and_duplicates(ctx, clean) -> None:
    short = _create_admin(ctx.settings, "short\n", "--password-stdin")
    assert short.exit_code != 0 and "password" in short.output
    assert count_rows(clean, "users") == 0
    assert _create_admin(ctx.settings, ADMIN_PASSWORD + "\n", "--password-stdin").exit_code == 0
    again = _create_admin(ctx.settings, ADMIN_PASSWORD + "\n", "--password-stdin")
    assert again.exit_code != 0 and "already taken" in again.output
    assert count_rows(clean, "users") == 1


def test_migrate_reads_the_environment(clean, database_url, redis_url) -> None:
    env = {
        "BACKDROP_ENV": "test",
        "BACKDROP_DATABASE_URL": database_url,
        "BACKDROP_REDIS_URL": redis_url,
    }
    result = CliRunner().invoke(cli, ["migrate"], env=env)
    assert result.exit_code == 0, result.output
    assert "active signing key" in result.output
    assert count_rows(clean, "signing_keys") == 1


def test_production_refuses_placeholder_secret(database_url) -> None:
    env = {"BACKDROP_ENV": "production", "BACKDROP_DATABASE_URL": database_url}
    result = CliRunner().invoke(cli, ["migrate"], env=env)
    assert result.exit_code != 0
    assert "BACKDROP_SECRET_KEY" in str(result.exception)
