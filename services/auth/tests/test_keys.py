"""Signing keys: encrypted at rest, generated once even under races, rotated by the CLI."""

from __future__ import annotations

import threading

import jwt
import pytest
from auth_service.cli import cli
from auth_service.keys import KeyStore, fernet_for
from backdrop_common.db import Database
from click.testing import CliRunner
from cryptography.fernet import InvalidToken

from tests.helpers import assert_unauthorized, bearer


def test_private_key_encrypted_at_rest(ctx, clean) -> None:
    kid = ctx.keys.ensure_active()
    with clean.cursor() as cur:
        cur.execute("SELECT private_key_encrypted FROM auth.signing_keys WHERE kid = %s", (kid,))
        stored = cur.fetchone()["private_key_encrypted"]
    assert "PRIVATE KEY" not in stored
    assert b"PRIVATE KEY" in fernet_for(ctx.settings.secret_key).decrypt(stored.encode())
    with pytest.raises(InvalidToken):
        fernet_for("some other secret").decrypt(stored.encode())


def test_first_start_race_makes_one_key(clean, database_url) -> None:
    kids: list[str] = []

    def start() -> None:
        db = Database(database_url)
        try:
            kids.append(KeyStore(db, "dev-insecure-change-me", 900).ensure_active())
        finally:
            db.close()

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(kids) == 6 and len(set(kids)) == 1
    with clean.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM auth.signing_keys")
        assert cur.fetchone()["n"] == 1


def test_rotate_key(auth, client, app, ctx, clean) -> None:
    acc = auth.account()
    old_kid = jwt.get_unverified_header(acc.access_token)["kid"]

    result = CliRunner().invoke(cli, ["rotate-key"], obj=ctx.settings)
    assert result.exit_code == 0, result.output
    new_kid = result.output.strip().split()[-1]
    assert new_kid != old_kid

    # Old tokens keep working until they expire...
    assert client.get("/v1/auth/me", headers=acc.headers).status_code == 200
    # ...new ones carry the new kid...
    fresh = auth.login(acc.username, acc.password).get_json()["access_token"]
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid
    assert client.get("/v1/auth/me", headers=bearer(fresh)).status_code == 200
    # ...and the JWKS publishes both, the active one first.
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert kids == [new_kid, old_kid]

    # One access-token lifetime after retirement, the old key is gone for good.
    with clean.cursor() as cur:
        cur.execute(
            "UPDATE auth.signing_keys SET retired_at = now() - interval '901 seconds'"
            " WHERE kid = %s",
            (old_kid,),
        )
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert kids == [new_kid]
    assert_unauthorized(client.get("/v1/auth/me", headers=acc.headers))
