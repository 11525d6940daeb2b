"""The webhook dispatcher: a terminal status reaches a receiver written here, which checks
the Standard Webhooks signature itself; a receiver that is down gets the event once it is
up; redirects are not followed; non-public targets are refused at send time; every
attempt is recorded; a delivery that keeps failing gives up after its retry window."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import socketserver
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import trustme
import urllib3
from backdrop_common import taskstore, webhooks
from backdrop_testing.plugin import LiveServer
from flask import Flask, Response, request
from sweeper.resources import Resources
from sweeper.settings import SweeperSettings
from sweeper.webhooks import RESPONSE_KEPT, dispatch_once


class Receiver:
    """A webhook receiver: records each POST; answers ``status`` with ``body``."""

    def __init__(self, port: int = 0, ssl_context: Any = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status, self.body, self.headers = 204, "", {}
        app = Flask("receiver")

        @app.post("/hook")
        def hook() -> Response:
            self.calls.append(
                {
                    "headers": dict(request.headers),
                    "body": request.get_data(),
                    "callback": "cb" in request.args,
                }
            )
            return Response(self.body, status=self.status, headers=self.headers)

        self.server = LiveServer(app, port, ssl_context)
        self.url = f"{self.server.url}/hook"


def verify(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """Check a Standard Webhooks signature by hand (not with the sender's library)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['Webhook-Id']}.{headers['Webhook-Timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["Webhook-Signature"].split(" ")]
    assert any(hmac.compare_digest(expected, s) for s in offered), "bad signature"
    assert abs(time.time() - int(headers["Webhook-Timestamp"])) < 60
    doc: dict[str, Any] = json.loads(body)
    return doc


@pytest.fixture
def hook_settings(settings: SweeperSettings) -> SweeperSettings:
    """Loopback allowed (receivers run here), quick backoff, short timeout."""
    return settings.model_copy(
        update={
            "webhook_allow_networks": ["127.0.0.1/32"],
            "webhook_backoff_s": 0.2,
            "webhook_timeout_s": 2.0,
        }
    )


@pytest.fixture
def send(hook_settings: SweeperSettings, res: Resources) -> Iterator[Any]:
    """``send(settings=None)``: one dispatcher pass; how many deliveries it attempted."""
    pool = ThreadPoolExecutor(4)
    http = urllib3.PoolManager()

    def once(settings: SweeperSettings | None = None) -> int:
        return dispatch_once(settings or hook_settings, res.db, http, pool)

    yield once
    pool.shutdown()
    with res.db.cursor() as cur:
        cur.execute("TRUNCATE tasks.webhook_endpoints, tasks.task_callbacks CASCADE")
        cur.execute("TRUNCATE tasks.webhook_deliveries CASCADE")


def _cancel(res: Resources, task: dict[str, Any]) -> None:
    taskstore.request_cancel(res.db, task["id"], None)


def _new_endpoint(res: Resources, url: str) -> tuple[uuid.UUID, tuple[Any, str]]:
    """A new owner and their endpoint for ``url``: ``(owner, (endpoint, secret))``."""
    owner = uuid.uuid4()
    made = webhooks.create_endpoint(res.db, owner, url)
    assert made is not None
    return owner, made


def _log(res: Resources, owner: uuid.UUID, endpoint_id: str) -> list[dict[str, Any]]:
    got = webhooks.deliveries(res.db, owner, uuid.UUID(endpoint_id))
    assert got is not None
    return got


def test_terminal_status_reaches_endpoint_and_callback_signed(
    res: Resources, make_task: Any, send: Any
) -> None:
    receiver = Receiver()
    owner, made = _new_endpoint(res, receiver.url)
    endpoint, secret = made
    task = make_task(owner_id=owner)
    callback_secret = webhooks.add_callback(res.db, task["id"], receiver.url + "?cb=1")
    make_task()  # someone else's task: their (absent) endpoints, not ours
    _cancel(res, task)
    assert send() == 2
    assert len(receiver.calls) == 2
    for call in receiver.calls:
        key = callback_secret if call["callback"] else secret
        doc = verify(key, call["headers"], call["body"])
        assert (doc["id"], doc["status"]) == (str(task["id"]), "cancelled")
    assert {c["callback"] for c in receiver.calls} == {True, False}
    # A forged body fails the receiver's check.
    forged = receiver.calls[0]["body"].replace(b"cancelled", b"succeeded")
    with pytest.raises(AssertionError):
        verify(secret, receiver.calls[0]["headers"], forged)
    [delivery] = _log(res, owner, endpoint["id"])
    assert delivery["state"] == "delivered" and delivery["attempts"] == 1
    assert delivery["attempt_log"][0]["status_code"] == 204
    assert send() == 0  # delivered once, not again


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_receiver_down_then_up_gets_the_event(res: Resources, make_task: Any, send: Any) -> None:
    port = _free_port()
    owner, made = _new_endpoint(res, f"http://127.0.0.1:{port}/hook")
    endpoint, secret = made
    task = make_task(owner_id=owner)
    _cancel(res, task)
    assert send() == 1  # nobody listens
    [delivery] = _log(res, owner, endpoint["id"])
    assert delivery["state"] == "pending" and delivery["attempt_log"][0]["error"]
    assert send() == 0  # backing off
    receiver = Receiver(port)
    deadline = time.monotonic() + 10
    while not receiver.calls and time.monotonic() < deadline:
        send()
        time.sleep(0.1)
    [call] = receiver.calls
    assert verify(secret, call["headers"], call["body"])["status"] == "cancelled"
    [delivery] = _log(res, owner, endpoint["id"])
    assert delivery["state"] == "delivered"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [None, 204]
    # The same webhook-id on every attempt, so a receiver can drop duplicates.
    assert call["headers"]["Webhook-Id"] == f"msg_{delivery['id'].replace('-', '')}"


def test_redirects_are_not_followed_and_answers_are_truncated(
    res: Resources, make_task: Any, send: Any
) -> None:
    target = Receiver()
    receiver = Receiver()
    receiver.status, receiver.headers = 307, {"Location": target.url}
    receiver.body = "x" * (RESPONSE_KEPT * 5)
    owner, made = _new_endpoint(res, receiver.url)
    _cancel(res, make_task(owner_id=owner))
    send()
    assert len(receiver.calls) == 1 and target.calls == []
    [delivery] = _log(res, owner, made[0]["id"])
    [attempt] = delivery["attempt_log"]
    assert (attempt["status_code"], attempt["error"]) == (307, "HTTP 307")
    assert len(attempt["response"]) == RESPONSE_KEPT
    assert delivery["state"] == "pending"


def test_non_public_targets_are_refused_when_sending(
    res: Resources, make_task: Any, send: Any, hook_settings: SweeperSettings
) -> None:
    receiver = Receiver()
    owner, made = _new_endpoint(res, receiver.url)
    _cancel(res, make_task(owner_id=owner))
    send(hook_settings.model_copy(update={"webhook_allow_networks": []}))
    assert receiver.calls == []
    [delivery] = _log(res, owner, made[0]["id"])
    assert delivery["attempt_log"][0]["error"].startswith("refused: ")


def test_gives_up_after_the_retry_window(
    res: Resources, make_task: Any, send: Any, hook_settings: SweeperSettings
) -> None:
    receiver = Receiver()
    receiver.status = 500
    owner, made = _new_endpoint(res, receiver.url)
    _cancel(res, make_task(owner_id=owner))
    time.sleep(0.3)
    send(hook_settings.model_copy(update={"webhook_retry_for_s": 0.1}))
    [delivery] = _log(res, owner, made[0]["id"])
    assert delivery["state"] == "failed" and delivery["finished_at"]


def test_default_retry_window_is_over_a_day() -> None:
    assert SweeperSettings.model_fields["webhook_retry_for_s"].default > 24 * 3600


def _resolve(monkeypatch: pytest.MonkeyPatch, name: str, answers: list[list[str]]) -> list[str]:
    """Make ``name`` resolve to each of ``answers`` in turn (the last one from then on);
    returns the list of the answers given, one entry per look-up."""
    real = socket.getaddrinfo
    given: list[str] = []

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        answer = answers[min(len(given), len(answers) - 1)]
        given.append(",".join(answer))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answer]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return given


def test_a_name_rebound_after_the_check_is_not_followed(
    res: Resources, make_task: Any, send: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name answers the check with an allowed address, then with an
    internal one. The POST goes to the address that was checked, named by its host."""
    receiver = Receiver()
    port = receiver.server.server.server_port
    name = "hooks.rebinding.test"
    given = _resolve(monkeypatch, name, [["127.0.0.1"], ["10.255.255.1"]])
    owner, _ = _new_endpoint(res, f"http://{name}:{port}/hook")
    _cancel(res, make_task(owner_id=owner))
    assert send() == 1
    assert given == ["127.0.0.1"]  # looked up once, by the check; never again to connect
    [call] = receiver.calls
    assert call["headers"]["Host"] == f"{name}:{port}"


def test_the_next_checked_address_is_tried_when_one_refuses(
    res: Resources,
    make_task: Any,
    send: Any,
    hook_settings: SweeperSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = Receiver()
    port = receiver.server.server.server_port
    name = "hooks.two-addresses.test"
    _resolve(monkeypatch, name, [["127.0.0.3", "127.0.0.1"]])  # nothing listens on .3
    owner, _ = _new_endpoint(res, f"http://{name}:{port}/hook")
    _cancel(res, make_task(owner_id=owner))
    send(hook_settings.model_copy(update={"webhook_allow_networks": ["127.0.0.0/8"]}))
    assert len(receiver.calls) == 1


@pytest.fixture
def black_holes() -> Iterator[Any]:
    """``black_holes(port, *addresses)``: loopback addresses where a connect hangs (a listener
    whose backlog is full drops the SYN), as behind a firewall that drops packets."""
    sockets: list[socket.socket] = []

    def make(port: int, *addresses: str) -> None:
        for address in addresses:
            listener = socket.socket()
            listener.bind((address, port))
            listener.listen(0)
            filler = socket.create_connection((address, port), timeout=1)  # fills the backlog
            sockets.extend((listener, filler))

    yield make
    for sock in sockets:
        sock.close()


def test_addresses_that_do_not_answer_share_one_connect_timeout(
    res: Resources, make_task: Any, send: Any, hook_settings: SweeperSettings,
    monkeypatch: pytest.MonkeyPatch, black_holes: Any,
) -> None:  # fmt: skip
    """Two checked addresses drop the connection attempt: each waits a share of the timeout,
    not all of it, so the live third one is reached within the timeout and the attempt
    stays well inside the hold that keeps other sweepers from sending the delivery too."""
    receiver = Receiver()
    port = receiver.server.server.server_port
    black_holes(port, "127.0.0.2", "127.0.0.3")
    name = "hooks.black-holes.test"
    _resolve(monkeypatch, name, [["127.0.0.2", "127.0.0.3", "127.0.0.1"]])
    owner, made = _new_endpoint(res, f"http://{name}:{port}/hook")
    _cancel(res, make_task(owner_id=owner))
    timeout = hook_settings.webhook_timeout_s
    started = time.monotonic()
    send(hook_settings.model_copy(update={"webhook_allow_networks": ["127.0.0.0/8"]}))
    assert len(receiver.calls) == 1
    assert time.monotonic() - started < timeout + 1.0  # was 2 x timeout before the live one
    [delivery] = _log(res, owner, made[0]["id"])
    assert delivery["state"] == "delivered" and delivery["attempts"] == 1


@pytest.mark.usefixtures("send")  # its teardown removes this test's endpoints and deliveries
def test_https_targets_are_verified_for_their_name_not_the_address(
    res: Resources,
    make_task: Any,
    hook_settings: SweeperSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connecting to a checked address keeps TLS intact: the certificate must match the URL's
    host (sent as SNI), so a receiver with another name's certificate is refused."""
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hooks.tls.test").configure_cert(server_tls)
    receiver = Receiver(ssl_context=server_tls)
    port = receiver.server.server.server_port
    for name in ("hooks.tls.test", "impostor.tls.test"):
        _resolve(monkeypatch, name, [["127.0.0.1"]])
    owner = uuid.uuid4()
    good = webhooks.create_endpoint(res.db, owner, f"https://hooks.tls.test:{port}/hook")
    bad = webhooks.create_endpoint(res.db, owner, f"https://impostor.tls.test:{port}/hook")
    assert good is not None and bad is not None
    _cancel(res, make_task(owner_id=owner))
    pool = ThreadPoolExecutor(2)
    with ca.cert_pem.tempfile() as ca_file:
        http = urllib3.PoolManager(ca_certs=ca_file)
        assert dispatch_once(hook_settings, res.db, http, pool) == 2
    pool.shutdown()
    [call] = receiver.calls
    assert call["headers"]["Host"] == f"hooks.tls.test:{port}"
    [refused] = _log(res, owner, bad[0]["id"])
    assert refused["attempt_log"][0]["error"] == "SSLError"


def test_an_internationalised_name_is_sent_in_its_idna_form(
    res: Resources, make_task: Any, send: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver()
    port = receiver.server.server.server_port
    _resolve(monkeypatch, "пример.test", [["127.0.0.1"]])
    owner, made = _new_endpoint(res, f"http://пример.test:{port}/hook")
    _cancel(res, make_task(owner_id=owner))
    send()
    [call] = receiver.calls
    assert call["headers"]["Host"] == f"xn--e1afmkfd.test:{port}"
    [delivery] = _log(res, owner, made[0]["id"])
    assert delivery["state"] == "delivered"


class SlowKeepAliveReceiver:
    """A keep-alive HTTP/1.1 receiver that sends each answer's first 4 KiB at once and the
    rest 0.3 s later, serving requests one after another on a connection (socketserver: the
    test's Flask server closes every connection, so it cannot show reuse)."""

    def __init__(self) -> None:
        self.requests = 0
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        byte = self.rfile.read(1)
                        if not byte:
                            return
                        head += byte
                    length = next(
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    )
                    self.rfile.read(length)
                    receiver.requests += 1
                    body = b"y" * 64 * 1024
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
                    self.wfile.write(body[:4096])
                    self.wfile.flush()
                    time.sleep(0.3)
                    self.wfile.write(body[4096:])
                    self.wfile.flush()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def test_a_connection_with_an_unread_answer_does_not_carry_the_next_delivery(
    res: Resources, make_task: Any, send: Any
) -> None:
    # Only the first KiB of an answer is kept; a connection with the rest still coming must
    # not be reused, or the next POST reads that rest as its answer.
    receiver = SlowKeepAliveReceiver()
    owner, made = _new_endpoint(res, receiver.url)
    for _ in range(2):
        _cancel(res, make_task(owner_id=owner))
        assert send() == 1
    assert receiver.requests == 2
    deliveries = _log(res, owner, made[0]["id"])
    assert [(d["state"], d["attempt_log"][0]["error"]) for d in deliveries] == [
        ("delivered", None),
        ("delivered", None),
    ]
    receiver.server.shutdown()
