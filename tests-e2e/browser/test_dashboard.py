"""The operators' dashboard in a real browser: an operator watches, cancels and retries; a
user is turned away."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from tests.helpers import User

pytestmark = pytest.mark.usefixtures("gate_processor")
SLOW = 60_000  # ms: a worker, the sweeper's relay and two polls on a loaded 2-core machine


def sign_in(page: Page, base_url: str, account: User) -> None:
    """Open the dashboard and sign in with the login form."""
    page.goto(f"{base_url}/admin")
    page.fill("#identifier", account.username)
    page.fill("#password", account.password)
    page.click("#login-form button[type=submit]")


def gate_task(owner: User, verdict_file: Path, **params: Any) -> str:
    """Submit a ``gate`` task (decided by ``verdict_file``) and return its id."""
    task = owner.submit("gate", b"gate input\n", params={"path": str(verdict_file), **params})
    return str(task["id"])


def test_operator_sees_a_queued_task_cancels_it_and_retries_a_failed_one(
    page: Page,
    base_url: str,
    operator: User,
    make_user: Callable[[], User],
    tmp_path: Path,
    shot: Callable[[str], None],
) -> None:
    owner = make_user()
    page.goto(f"{base_url}/admin")
    expect(page.locator("#login-view")).to_be_visible()
    shot("dashboard-login")
    sign_in(page, base_url, operator)
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#whoami")).to_contain_text(f"{operator.username} (operator)")
    expect(page.locator("#queues-table tr[data-processor=gate]")).to_be_visible()

    # A task the gate keeps waiting shows up as queued (its retry is a minute away).
    waiting_file = tmp_path / "waiting"
    waiting_file.write_text("wait")
    waiting = gate_task(owner, waiting_file, wait_s=120)
    page.click("nav button[data-view=tasks]")
    owner_id = owner.get("/v1/auth/me").json()["id"]
    page.fill("#task-filter input[name=owner_id]", owner_id)
    page.click("#task-filter button[type=submit]")
    row = page.locator(f'#tasks-table tr[data-id="{waiting}"]')
    expect(row).to_have_attribute("data-status", "queued", timeout=SLOW)

    # A task the gate refuses fails for good and is listed with its error.
    gate_file = tmp_path / "gate"
    gate_file.write_text("closed")
    failing = gate_task(owner, gate_file)
    page.click("nav button[data-view=failed]")
    failed_row = page.locator(f'#failed-table tr[data-id="{failing}"]')
    expect(failed_row).to_contain_text("gate_closed", timeout=SLOW)
    expect(page.locator("#badge-failed")).not_to_be_empty()
    page.click("nav button[data-view=queues]")
    expect(page.locator("#status-cards [data-status=failed] b")).not_to_have_text("0")
    shot("dashboard-queues")
    page.click("nav button[data-view=workers]")
    expect(page.locator("#workers-table tbody tr[data-worker]").first).to_be_visible()
    shot("dashboard-workers")

    # The operator fixes the cause and retries from the dashboard, confirming first.
    gate_file.write_text("open")
    page.click("nav button[data-view=failed]")
    failed_row.get_by_role("button", name="Retry").click()
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text("back to the queue")
    shot("dashboard-failed-retry")
    page.click("#confirm-yes")
    expect(failed_row).to_have_count(0, timeout=SLOW)
    page.click("nav button[data-view=tasks]")
    retried = page.locator(f'#tasks-table tr[data-id="{failing}"]')
    expect(retried).to_have_attribute("data-status", "succeeded", timeout=SLOW)
    assert owner.get(f"/v1/tasks/{failing}").json()["status"] == "succeeded"
    assert owner.get(f"/v1/tasks/{failing}/result").json()["result"]["gate"] == "open"

    # Cancelling the waiting task asks for confirmation; "keep" leaves it alone.
    cancel = row.get_by_role("button", name="Cancel")
    cancel.click()
    page.click("#confirm button[value=no]")
    expect(row).to_have_attribute("data-status", "queued")
    shot("dashboard-tasks")
    cancel.click()
    page.click("#confirm-yes")
    expect(row).to_have_attribute("data-status", "cancelled", timeout=SLOW)
    assert owner.get(f"/v1/tasks/{waiting}").json()["status"] == "cancelled"


def test_a_user_gets_no_access(
    page: Page, base_url: str, make_user: Callable[[], User], shot: Callable[[str], None]
) -> None:
    plain = make_user()
    sign_in(page, base_url, plain)
    expect(page.locator("#denied-view")).to_be_visible()
    expect(page.locator("#app-view")).to_be_hidden()
    expect(page.locator("#queues-table tbody tr")).to_have_count(0)
    shot("dashboard-no-access")
    forbidden = plain.get("/v1/admin/queues")
    assert forbidden.status_code == 403
    assert forbidden.headers["Content-Type"].startswith("application/problem+json")


def test_wrong_password_is_refused_in_the_form(
    page: Page, base_url: str, make_user: Callable[[], User]
) -> None:
    account = make_user()
    account.password = "not the password"
    sign_in(page, base_url, account)
    expect(page.locator("#login-error")).to_have_text("Wrong email, username or password.")
    expect(page.locator("#app-view")).to_be_hidden()
