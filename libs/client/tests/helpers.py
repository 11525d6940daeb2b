"""Helpers the client's tests share."""

from __future__ import annotations

from backdrop_client import Client, Credentials
from backdrop_client.cli import main
from click.testing import CliRunner, Result

from tests.stack import Stack


def backdrop(stack: Stack, *args: str, url: str | None = None) -> Result:
    """Run the command in-process (each run builds its client from the stored session)."""
    return CliRunner().invoke(main, ["--url", url or stack.gateway_url, *args])


SHORT_TTL_S = 2


def short_lived_client(stack: Stack, name: str, password: str) -> Client:
    """A gateway client whose access token (from a short-TTL auth server) soon expires."""
    short = stack.short_lived_auth(SHORT_TTL_S)
    issuer = Client(short.url)
    issuer.login(name, password)
    creds = Credentials()
    creds.update(
        {
            "access_token": issuer.token,
            "refresh_token": issuer.refresh_token,
            "expires_in": SHORT_TTL_S,
        }
    )
    return Client(stack.gateway_url, credentials=creds)
