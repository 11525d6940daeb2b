"""docs/API.md is the public contract in the repository: its route table is what the gateway
serves, and the docs point nowhere outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parents[3]
METHODS = {"get", "post", "put", "patch", "delete"}
ROUTE_ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/\S*)` \|")
LINK = re.compile(r"\]\(([^)#\s]+)[^)]*\)")


def documented_routes() -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every row of the "## Routes" table in docs/API.md."""
    text = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    table = text.split("\n## Routes\n", 1)[1].split("\n## ", 1)[0]
    return {m.groups() for line in table.splitlines() if (m := ROUTE_ROW.match(line))}


def test_route_table_is_what_openapi_describes(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    served = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in METHODS
    }
    documented = documented_routes()
    assert sorted(served - documented) == [], "served but not in docs/API.md"
    assert sorted(documented - served) == [], "in docs/API.md but not served"


def test_docs_link_only_inside_the_repository() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "shared/docs" not in text, page
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+://", target):
                continue  # a web address, not a file
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), (page.name, target)
