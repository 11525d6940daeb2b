"""The ``backdrop`` command against the real services: session file, errors, listing."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.helpers import backdrop
from tests.stack import Stack


@pytest.mark.usefixtures("cli_user")
def test_session_is_stored_0600_and_renewed(stack: Stack, config_dir: Path) -> None:
    session = config_dir / "session.json"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    doc = json.loads(session.read_text())
    saved = doc["sessions"][stack.gateway_url]
    assert saved["access_token"] and saved["refresh_token"]

    # A later run (a new process in real use) finds the session; one whose access token
    # has expired renews it and stores the rotated tokens.
    saved["expires_at"] = 0
    session.write_text(json.dumps(doc))
    listed = backdrop(stack, "ls")
    assert listed.exit_code == 0, listed.output
    renewed = json.loads(session.read_text())["sessions"][stack.gateway_url]
    assert renewed["refresh_token"] != saved["refresh_token"]
    assert stat.S_IMODE(session.stat().st_mode) == 0o600

    assert backdrop(stack, "logout").exit_code == 0
    assert stack.gateway_url not in json.loads(session.read_text())["sessions"]
    after = backdrop(stack, "ls")
    assert after.exit_code == 1
    assert "not signed in" in after.stderr and "Traceback" not in after.output


@pytest.mark.usefixtures("cli_user")
def test_submit_watch_and_ls(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("backdrop " * 20_000)
    done = backdrop(stack, "submit", str(path), "-p", "text-stats", "--param", "top=1")
    assert done.exit_code == 0, done.output
    assert "upload words.txt: 100%" in done.stderr  # the bar completes
    assert '"top_words": [["backdrop", 20000]]' in done.stdout
    task_id = done.stdout.split()[1]
    listed = backdrop(stack, "ls")
    assert listed.exit_code == 0
    assert listed.stdout.startswith(task_id) and "succeeded" in listed.stdout
    watched = backdrop(stack, "watch", task_id)
    assert watched.exit_code == 0 and "result:" in watched.stdout


@pytest.mark.usefixtures("cli_user")
def test_api_errors_print_the_problem_and_each_field(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("x")
    bad = backdrop(stack, "submit", str(path), "-p", "checksum", "--param", 'algorithms=["x"]')
    assert bad.exit_code == 1
    lines = bad.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "(400 validation_error)" in lines[0]
    assert any(line.strip().startswith("params.algorithms") for line in lines[1:]), lines
    assert "Traceback" not in bad.output
    unknown = backdrop(stack, "submit", str(path), "-p", "nope")
    assert unknown.exit_code == 1 and "processor" in unknown.stderr


@pytest.mark.usefixtures("config_dir")
def test_unreachable_server_is_one_line(stack: Stack) -> None:
    out = backdrop(stack, "ls", url="http://127.0.0.1:1")
    assert out.exit_code == 1
    assert out.stderr.strip().splitlines() == [
        "error: cannot reach http://127.0.0.1:1/v1/tasks (connection refused);"
        " is the gateway running? (--url)"
    ]
