"""Response headers and URL rules every service gets (``init_app`` from the app factory).

- ``X-Content-Type-Options: nosniff`` everywhere: a JSON error or an artifact name is never
  sniffed into HTML by a browser.
- ``Cache-Control: no-store`` unless a view chose otherwise: responses carry user data
  (tasks, tokens, results with presigned URLs) that no shared cache may keep.
- HTML pages (``/docs``, an admin page) get a Content-Security-Policy that allows nothing
  but their own inline styles, and may not be framed (clickjacking).
- No URL is ever built from the request's Host header: ``//`` is not merged into ``/`` (that
  answered ``/v1/auth//me`` with a redirect to whatever host the client named).
"""

from __future__ import annotations

from flask import Flask, Response

HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def secure_headers(resp: Response) -> Response:
    """Add the headers above to ``resp`` (those a view set itself are kept)."""
    resp.headers["X-Content-Type-Options"] = "nosniff"
    # getlist, not setdefault: werkzeug finds an absent header by raising (and catching)
    # an exception, which was a third of this function's cost.
    if not resp.headers.getlist("Cache-Control"):
        resp.headers["Cache-Control"] = "no-store"
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Content-Security-Policy", HTML_POLICY)
        resp.headers["X-Frame-Options"] = "DENY"
    return resp


def init_app(app: Flask) -> None:
    """Wire the hardening into ``app``."""
    # Werkzeug redirects a path with "//" to the merged one, with an absolute Location
    # built from the Host header: an open redirect to any host. Unmerged, it is a 404.
    app.url_map.merge_slashes = False
    app.after_request(secure_headers)
