"""The dashboard page and its assets: served from the package, nothing from elsewhere."""

from __future__ import annotations

import re
from typing import Any


def test_page_and_assets_are_self_contained(client: Any) -> None:
    page = client.get("/admin")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    html = page.get_data(as_text=True)
    assert re.findall(r'(?:src|href)="(https?:[^"]+)"', html) == []
    assert "<script>" not in html and " style=" not in html  # the CSP allows neither inline
    for name, mimetype in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        asset = client.get(f"/admin/assets/{name}")
        assert asset.status_code == 200 and asset.mimetype == mimetype
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
        assert "http://" not in asset.get_data(as_text=True).replace("http://${", "")
    js = client.get("/admin/assets/dashboard.js").get_data(as_text=True)
    assert "innerHTML" not in js  # server data is written as text, never as markup


def test_unknown_assets_are_404(client: Any) -> None:
    for name in ("index.html", "..%2fpage.py", "nope.js"):
        resp = client.get(f"/admin/assets/{name}")
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


def test_spec_documents_each_asset_media_type(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    answer = spec["paths"]["/admin/assets/{name}"]["get"]["responses"]["200"]["content"]
    served = {
        client.get(f"/admin/assets/{name}").mimetype for name in ("dashboard.js", "dashboard.css")
    }
    assert set(answer) == served == {"text/javascript", "text/css"}
