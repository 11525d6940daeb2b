"""Fixtures of the black-box suite (shared with ``browser/``, so they live in e2e_fixtures)."""

from e2e_fixtures import BASE_URL, base_url, make_user, user

__all__ = ["BASE_URL", "base_url", "make_user", "user"]
