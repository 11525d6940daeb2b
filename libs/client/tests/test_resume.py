"""``backdrop submit --resume``: a client killed mid-upload continues from the stored parts."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from backdrop_client import Client

from tests.helpers import backdrop
from tests.stack import Stack

BACKDROP_BIN = Path(sys.executable).with_name("backdrop")
PARTS = 10  # of 8 MiB each


def _journal_parts(config_dir: Path) -> dict[str, str]:
    for path in (config_dir / "uploads").glob("*.json"):
        try:
            parts: dict[str, str] = json.loads(path.read_text()).get("parts", {})
        except ValueError:  # caught between write and rename: never, but do not guess
            continue
        return parts
    return {}


def test_killed_upload_resumes_from_the_stored_parts(
    stack: Stack, cli_user: tuple[str, str], config_dir: Path, tmp_path: Path
) -> None:
    name, password = cli_user
    path = tmp_path / "big.bin"
    data = os.urandom(PARTS * 8 * 1024 * 1024)
    path.write_bytes(data)
    env = {**os.environ, "BACKDROP_URL": stack.gateway_url}
    args = [str(BACKDROP_BIN), "submit", str(path), "-p", "checksum", "--no-watch"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _journal_parts(config_dir):  # kill as soon as storage has kept a part
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no part was stored within 60 s"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = _journal_parts(config_dir)
    assert 1 <= len(stored) < PARTS, f"killed too late: {len(stored)} parts stored"

    resumed = backdrop(stack, "submit", str(path), "-p", "checksum", "--resume")
    assert resumed.exit_code == 0, resumed.output
    first_line = resumed.stdout.splitlines()[0]
    assert first_line.startswith("resuming task ")
    assert f": {len(stored)} of {PARTS} parts stored" in first_line
    assert "upload big.bin: 100%" in resumed.stderr
    assert f'"sha256": "{hashlib.sha256(data).hexdigest()}"' in resumed.stdout
    assert not list((config_dir / "uploads").glob("*.json"))  # nothing left to resume
    client = Client(stack.gateway_url)
    client.login(name, password)
    (task,) = client.list_page()["items"]  # one task: the resumed upload did not start over
    assert task["status"] == "succeeded" and task["size"] == len(data)
