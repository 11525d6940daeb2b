"""Browser fixtures: Debian's Chromium driven by Playwright, and accounts with roles.

Playwright's own browser download does not work on these machines, so the system Chromium
(``BACKDROP_CHROMIUM``, default ``/usr/bin/chromium``; ``scripts/system-packages.sh``
installs it) is launched headless. The operator is made the documented way: the first admin
with ``backdrop-auth create-admin`` on the stack's database (``BACKDROP_E2E_DATABASE_URL``),
then the operator role granted through the admin API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from backdrop_client import Client
from playwright.sync_api import Browser, Page, sync_playwright
from tests.helpers import User

CHROMIUM = os.environ.get("BACKDROP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = os.environ.get("BACKDROP_SCREENSHOTS")  # a directory: save the main views there


def _need(condition: bool, what: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required in CI", pytrace=False)
        pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless system Chromium for the session."""
    _need(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no stored tokens) and its page."""
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    yield tab
    context.close()


@pytest.fixture
def shot(page: Page) -> Callable[[str], None]:
    """``shot(name)`` saves a screenshot of the page when ``BACKDROP_SCREENSHOTS`` is set."""

    def take(name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))

    return take


@pytest.fixture(scope="session")
def admin(base_url: str) -> User:
    """The bootstrap admin, created with ``backdrop-auth create-admin``."""
    database_url = os.environ.get("BACKDROP_E2E_DATABASE_URL")
    _need(bool(database_url), "BACKDROP_E2E_DATABASE_URL (the stack's database)")
    name = f"admin_{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    env = {**os.environ, "BACKDROP_ENV": "development", "BACKDROP_DATABASE_URL": database_url}
    cli = Path(sys.executable).with_name("backdrop-auth")
    done = subprocess.run(
        [
            str(cli),
            "create-admin",
            "--email",
            f"{name}@example.com",
            "--username",
            name,
            "--password-stdin",
        ],
        input=password + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return login(base_url, name, password, f"{name}@example.com")


def login(base_url: str, username: str, password: str, email: str) -> User:
    """Sign ``username`` in through the gateway."""
    client = Client(base_url)
    client.login(username, password)
    return User(username, email, password, client)


@pytest.fixture
def operator(admin: User, make_user: Callable[[], User]) -> User:
    """A registered user whom the admin made an operator through the API."""
    account = make_user()
    me = account.get("/v1/auth/me").json()
    granted = admin.put(f"/v1/admin/users/{me['id']}/roles", json={"roles": ["operator"]})
    assert granted.status_code == 200, granted.text
    assert granted.json()["roles"] == ["user", "operator"]
    return account


@pytest.fixture(scope="session")
def gate_processor(base_url: str, admin: User) -> None:
    """The stack's workers load the e2e plugin's ``gate`` processor."""
    names = {p["name"] for p in admin.get("/v1/processors").json()["items"]}
    _need("gate" in names, "the e2e processor 'gate' (scripts/stack.py --profile e2e loads it)")
