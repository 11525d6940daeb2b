"""``/docs`` in a real browser: Swagger UI from the gateway itself (no CDN) lists the
operations with resolved schemas, and "Try it out" works after "Authorize" with a token."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect
from tests.helpers import User

CREATE, LIST = "tasks-tasks_create_task", "tasks-tasks_list_tasks"


def test_docs_lists_the_operations_and_tries_one_with_a_token(
    page: Page, base_url: str, make_user: Callable[[], User], shot: Callable[[str], None]
) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base_url) else None)
    page.goto(f"{base_url}/docs")
    for operation in (
        "tasks-tasks_create_task",
        "tasks-events_task_events",
        "webhooks-webhooks_create_webhook",
    ):
        expect(page.locator(f"#operations-{operation}")).to_be_visible()
    paths = {
        p.replace("\u200b", "") for p in page.locator(".opblock-summary-path").all_inner_texts()
    }
    assert {"/v1/tasks", "/v1/tasks/{task_id}/events", "/v1/events", "/v1/webhooks"} <= paths
    # Schemas are resolved: the creation body shows its example, not a "$ref" block.
    page.click(f"#operations-{CREATE} .opblock-summary")
    body = page.locator(f"#operations-{CREATE} .body-param__example")
    expect(body).to_contain_text('"processor": "checksum"')
    expect(page.locator(f"#operations-{CREATE}")).not_to_contain_text("$ref")
    # Authorize with an access token, then try GET /v1/tasks.
    user = make_user()
    page.click("button.authorize")
    page.fill(".modal-ux input", user.access_token)
    page.click(".modal-ux .auth-btn-wrapper button.authorize")
    page.click(".modal-ux button.btn-done")
    page.click(f"#operations-{LIST} .opblock-summary")
    page.click(f"#operations-{LIST} button.try-out__btn")
    page.click(f"#operations-{LIST} button.execute")
    status = page.locator(
        f"#operations-{LIST} .live-responses-table tr.response .response-col_status"
    )
    expect(status.first).to_contain_text("200")
    page.click(f"#operations-{LIST} .opblock-summary")  # fold it for the picture
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator(".information-container")).to_be_visible()
    shot("api-docs")
    assert outside == []  # nothing from a CDN or any other site
    assert problems == []
