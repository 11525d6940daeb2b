"""The services' JSON answers (orjson behind ``app.json``) read as Flask's own did."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid

from backdrop_common.json_provider import OrjsonProvider
from flask import Flask


@dataclasses.dataclass
class Point:
    x: int


def _provider() -> tuple[OrjsonProvider, Flask]:
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    return app.json, app


def test_answers_decode_to_what_flasks_own_provider_gives() -> None:
    ours, app = _provider()
    flask_own = Flask("plain").json
    flask_own.sort_keys = False  # type: ignore[attr-defined]
    doc = {
        "id": uuid.UUID("6c1d7e0e-8f5a-4a51-9a0e-3b0f5c1e2d44"),
        "text": "grüße ✓ \u2028",
        "when": dt.datetime(2026, 12, 6, 20, 0, tzinfo=dt.UTC),
        "day": dt.date(2026, 12, 6),
        "amount": decimal.Decimal("1.50"),
        "point": Point(3),
        "big": 2**70,
        "nested": {"b": [1, 2.5, None, True], "a": {}},
        7: "int key",
    }
    for value in (doc, doc["nested"], [doc["big"]], "plain"):
        assert json.loads(ours.dumps(value)) == json.loads(flask_own.dumps(value))
    with app.test_request_context():
        resp = ours.response(doc)
    assert resp.mimetype == "application/json"
    body = resp.get_data(as_text=True)
    assert list(json.loads(body)) == [str(k) for k in doc]  # order kept, not sorted
    assert '"big":1180591620717411303424' in body  # beyond 64 bits: exact


def test_caller_options_still_work() -> None:
    ours, _ = _provider()
    assert ours.dumps({"b": 1, "a": 2}, indent=2) == '{\n  "b": 1,\n  "a": 2\n}'
    assert ours.dumps({"a": 1}, separators=(", ", ": ")) == '{"a": 1}'


def test_answers_end_in_a_newline_and_debug_answers_are_indented() -> None:
    ours, app = _provider()
    with app.test_request_context():
        compact = ours.response({"a": [1, "ü"]}).get_data()
        app.debug = True
        indented = ours.response({"a": [1]}).get_data(as_text=True)
    assert compact == '{"a":[1,"ü"]}\n'.encode()
    assert indented == '{\n  "a": [\n    1\n  ]\n}\n'
