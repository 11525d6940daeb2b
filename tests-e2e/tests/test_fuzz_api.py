"""Property-based fuzzing of the public API (schemathesis, spec read from ``/openapi.json``).

Every documented operation gets up to ``MAX_EXAMPLES`` (``BACKDROP_FUZZ_EXAMPLES``, 25)
generated requests, valid and invalid, sent with the bearer token of a freshly registered
user. Checks on each answer:

- no 5xx, ever (``not_a_server_error``); the stack is up, so a 503 counts too;
- every error is ``application/problem+json`` with ``type, title, status, detail, code``
  (``problem_details`` below);
- status codes, content types, headers and bodies conform to the documented schemas, and
  schema-violating requests are rejected (schemathesis' default checks).

Deliberate limits, so the run stays bounded (about 40 s on 2 cores) and meaningful:

- Streaming: ``GET .../events`` is fuzzed only with ids of nobody's task (400/401/404):
  on a live task the answer is an endless event stream, which a request/response fuzzer
  cannot read to the end. Elsewhere a valid UUID in the path is swapped for one of the
  user's own tasks (one succeeded, with an artifact) in about half the cases, to get past
  the ownership 404.
- Live streams for all of a user's tasks (``GET /v1/events``) and the WebSocket routes are
  not fuzzed: a valid request is an endless stream, and a WebSocket is no request/response
  exchange (their refusals are tested in the gateway suite: test_user_events, test_ws).
- Raw bodies (``PUT .../content``, ``POST /task/upload/{id}``) are fuzzed as arbitrary
  bytes; schemathesis handles them, a body of exactly the declared size queues a task.
- ``POST /v1/auth/logout`` gets a token of its own session (a fresh login per case), or
  the first example would revoke the token every other operation uses.
- Two thirds of the valid task-creation bodies name a real processor (a generated name
  never is), so 201 answers get checked too; created tasks are cancelled (per-user cap).
- ``positive_data_acceptance`` is off: a schema-valid body may still name no installed
  processor or exceed the upload limit; those 4xx answers are right, not bugs.
- Fuzzed requests leave from 127.0.0.2 when the gateway is on loopback, so failed fuzzed
  logins fill that address's per-IP login window, not the one other e2e tests use.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import urllib.parse
import uuid
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from requests.adapters import HTTPAdapter
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

BASE_URL = os.environ.get("BACKDROP_URL", "http://127.0.0.1:8080").rstrip("/")
MAX_EXAMPLES = int(os.environ.get("BACKDROP_FUZZ_EXAMPLES", "25"))
PROBLEM_FIELDS = ("type", "title", "status", "detail", "code")
NO_REAL_IDS = ("/v1/tasks/{task_id}/events",)
NOT_FUZZED = ("/v1/events", "/v1/ws", "/v1/tasks/{task_id}/ws")


class _SourceAddressAdapter(HTTPAdapter):
    """Connections leave from a given local address (a separate per-IP login window)."""

    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


def _session(base_url: str) -> requests.Session:
    http = requests.Session()
    if urllib.parse.urlsplit(base_url).hostname == "127.0.0.1":
        try:
            probe = requests.Session()
            probe.mount("http://", _SourceAddressAdapter("127.0.0.2"))
            probe.get(f"{base_url}/healthz", timeout=5).raise_for_status()
            http.mount("http://", _SourceAddressAdapter("127.0.0.2"))
        except requests.RequestException:
            pass  # no second loopback address here: share the window, as any client would
    return http


class Fuzzer:
    """The signed-in user the fuzzer acts as, a few of their tasks, and the HTTP session."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = _session(base_url)  # the fuzzed requests
        self.setup = requests.Session()  # our own sign-ins and set-up, from the usual address
        name = f"fuzz_{uuid.uuid4().hex[:12]}"
        self.identifier, self.password = name, f"pw-{uuid.uuid4().hex}"
        reg = self.setup.post(
            f"{base_url}/v1/auth/register",
            json={"email": f"{name}@example.com", "username": name, "password": self.password},
            timeout=30,
        )
        assert reg.status_code == 201, reg.text
        self.token = self.login()
        self.task_ids = [self._task(f"in{i}.txt") for i in range(3)]
        # A succeeded task with an artifact, so results and their presigned URLs get checked.
        done = self._task("done.txt")
        put = self.setup.put(
            f"{base_url}/v1/tasks/{done}/content", data=b"hello", headers=self.auth(), timeout=60
        )
        assert put.status_code == 202, put.text
        self._wait(done)
        self.task_ids.append(done)
        self._pick = itertools.cycle([*self.task_ids, None, None, None])

    def login(self) -> str:
        resp = self.setup.post(
            f"{self.base_url}/v1/auth/login",
            json={"identifier": self.identifier, "password": self.password},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    def _task(self, filename: str) -> str:
        body = {"processor": "gzip", "filename": filename, "size": 5, "content_type": "text/plain"}
        resp = self.setup.post(
            f"{self.base_url}/v1/tasks", json=body, headers=self.auth(), timeout=30
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["task"]["id"])

    def _wait(self, task_id: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            resp = self.setup.get(
                f"{self.base_url}/v1/tasks/{task_id}", headers=self.auth(), timeout=30
            )
            status = resp.json()["status"]
            if status == "succeeded":
                return
            time.sleep(0.1)
        pytest.fail(f"set-up task {task_id} did not succeed: {status}")

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def own_id(self, generated: Any) -> Any:
        """Sometimes one of our task ids instead of a generated (valid) UUID."""
        try:
            uuid.UUID(str(generated))
        except ValueError:
            return generated  # a deliberately invalid id stays invalid
        return next(self._pick) or generated

    def cleanup(self, case: Any, response: Any) -> None:
        """Cancel tasks the fuzzer created, so it stays under the per-user cap."""
        if case.method.upper() != "POST" or response.status_code not in (200, 201):
            return
        if case.path not in ("/v1/tasks", "/task/request"):
            return
        try:
            doc = json.loads(response.content)
            task_id = doc.get("task", {}).get("id") or doc.get("task_id")
        except (ValueError, AttributeError):
            return
        if task_id and task_id not in self.task_ids:
            self.setup.post(
                f"{self.base_url}/v1/tasks/{task_id}/cancel", headers=self.auth(), timeout=30
            )


@pytest.fixture(scope="module")
def fuzzer(base_url: str) -> Fuzzer:
    return Fuzzer(base_url)


def _load_schema() -> Any:
    # Loaded at collection, not from a fixture: schemathesis' lazy ``from_fixture`` schemas
    # rely on a pytest internal (``Function._nodeid``) that pytest 9.2 no longer has.
    try:
        return schemathesis.openapi.from_url(f"{BASE_URL}/openapi.json", wait_for_schema=60)
    except Exception as exc:  # reported by the test below, not as a collection error
        return exc


schema = _load_schema()


def problem_details(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer is RFC 9457 problem+json with the five documented members."""
    if response.status_code < 400:
        return None
    media = (response.headers.get("content-type") or [""])[0]  # lowercase names, lists
    assert media.split(";")[0].strip() == "application/problem+json", (
        f"{response.status_code} answered with Content-Type {media!r}"
    )
    doc = json.loads(response.content)
    assert isinstance(doc, dict), f"problem body is not an object: {doc!r}"
    missing = [k for k in PROBLEM_FIELDS if k not in doc]
    assert not missing, f"problem body lacks {missing}: {doc!r}"
    assert doc["status"] == response.status_code, f"status member {doc['status']} differs"
    assert str(doc["type"]).endswith(str(doc["code"])), f"type/code disagree: {doc!r}"
    return True


_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    # The same examples every run: CI must not fail on an input no earlier run tried.
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _known_processor(case: Any) -> None:
    """Name a real processor in some valid creation bodies: a generated name is never one,
    so without this no task would ever be created and the 201 answer never checked."""
    body = case.body
    field = {"/v1/tasks": "processor", "/task/request": "task_type"}.get(case.path)
    body_mode = case.meta.components.get(ParameterLocation.BODY) if case.meta else None
    if field is None or not isinstance(body, dict) or field not in body or body_mode is None:
        return
    if body_mode.mode is GenerationMode.POSITIVE and next(_FLIP):
        body[field], body["params"] = "checksum", {}


_FLIP = itertools.cycle([True, True, False])


def _exercise(case: Any, fuzzer: Fuzzer) -> None:
    _known_processor(case)
    if "task_id" in (case.path_parameters or {}) and case.path not in NO_REAL_IDS:
        case.path_parameters["task_id"] = fuzzer.own_id(case.path_parameters["task_id"])
    # schemathesis fills Authorization itself: "Bearer <junk>" in positive cases (swapped
    # for our token, to get past 401), anything else or nothing when the case tests bad
    # credentials (kept, or the "accepted invalid data" check would blame the API).
    generated = (case.headers or {}).get("Authorization")
    secured = bool(case.operation.definition.raw.get("security"))
    headers = None
    if not secured or (generated or "").startswith("Bearer "):
        token = fuzzer.login() if case.path == "/v1/auth/logout" else None
        headers = fuzzer.auth(token)
    response = case.call(base_url=fuzzer.base_url, session=fuzzer.http, headers=headers, timeout=30)
    fuzzer.cleanup(case, response)
    case.validate_response(
        response,
        additional_checks=[problem_details],
        excluded_checks=[positive_data_acceptance],
    )


if isinstance(schema, Exception):

    def test_api_conforms(base_url: str) -> None:
        """The spec could not be loaded, so nothing was fuzzed."""
        pytest.fail(f"no OpenAPI document at {BASE_URL}/openapi.json: {schema}")

else:

    @schema.exclude(path=list(NOT_FUZZED)).parametrize()
    @_SETTINGS
    def test_api_conforms(case: Any, fuzzer: Fuzzer) -> None:
        """No 5xx, problem+json errors, answers as documented, for any generated request."""
        _exercise(case, fuzzer)
