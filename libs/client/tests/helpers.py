"""Helpers the client's tests share."""

from __future__ import annotations

from backdrop_client.cli import main
from click.testing import CliRunner, Result

from tests.stack import Stack


def backdrop(stack: Stack, *args: str, url: str | None = None) -> Result:
    """Run the command in-process (each run builds its client from the stored session)."""
    return CliRunner().invoke(main, ["--url", url or stack.gateway_url, *args])
