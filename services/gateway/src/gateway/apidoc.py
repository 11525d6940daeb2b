"""OpenAPI metadata attached to views, and the spec built from it and the marshmallow schemas.

Views carry a one-line docstring (the summary) and an ``@operation(...)`` decorator naming
their schemas; ``build_spec`` walks the app's URL map, so a route without metadata is
visible (a test fails) instead of silently undocumented.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask
from marshmallow import Schema

from gateway import schemas

F = TypeVar("F", bound=Callable[..., Any])
ATTR = "__apidoc__"
EMPTY_MEANS_ABSENT = "empty_means_absent"  # field metadata: ``?name=`` is read as absent
PROBLEM = "application/problem+json"
ERROR_TEXT = {
    400: "Invalid request (validation_error)",
    401: "Missing or bad token (unauthorized)",
    403: "Forbidden",
    404: "No such resource (also another user's task)",
    409: "Conflict with the task's state",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable (idempotency_mismatch / upload_invalid)",
    429: "Rate limited (see Retry-After)",
    503: "A dependency is unavailable",
}
# A schema, (media type or types, description), or empty. Several media types: one route
# answers each of them (the dashboard's assets: a script or a style sheet).
Response = type[Schema] | tuple[str | tuple[str, ...], str] | None


def operation(
    *,
    tag: str,
    responses: dict[int, Response],
    body: type[Schema] | tuple[str, str] | None = None,
    query: type[Schema] | None = None,
    path: tuple[str | tuple[str, dict[str, Any]], ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    auth: bool = True,
    body_required: bool = True,
) -> Callable[[F], F]:
    """Attach OpenAPI metadata to a view (errors listed by status get the problem schema)."""

    meta = {
        "tag": tag,
        "responses": responses,
        "body": body,
        "body_required": body_required,
        "query": query,
        "path": path,
        "headers": headers,
        "auth": auth,
    }

    def decorate(view: F) -> F:
        setattr(view, ATTR, meta)
        return view

    return decorate


class _FlaskPlugin(FlaskPlugin):
    """FlaskPlugin that also takes plain paths (routes the gateway only forwards)."""

    def path_helper(
        self,
        path: str | None = None,
        operations: dict[Any, Any] | None = None,
        parameters: list[dict[Any, Any]] | None = None,
        *,
        view: Any = None,
        app: Flask | None = None,
        **kwargs: Any,
    ) -> str | None:
        if view is None:
            return path
        return super().path_helper(path, operations, parameters, view=view, app=app, **kwargs)


def _content(media: str, schema: Any) -> dict[str, Any]:
    return {media: {"schema": schema}}


def _response(status: int, spec: Response) -> dict[str, Any]:
    if status >= 400:
        return {
            "description": ERROR_TEXT.get(status, "Error"),
            "content": _content(PROBLEM, "Problem"),
        }
    if spec is None:
        return {"description": "No content" if status == 204 else "Success"}
    if isinstance(spec, tuple):
        media, description = spec
        content: dict[str, Any] = {}
        for one in (media,) if isinstance(media, str) else media:
            shape = "object" if one == "application/json" else "string"
            content.update(_content(one, {"type": shape}))
        return {"description": description, "content": content}
    return {"description": spec.__doc__ or "Success", "content": _content("application/json", spec)}


def build_operation(
    endpoint: str, view: Callable[..., Any], meta: dict[str, Any]
) -> dict[str, Any]:
    """The OpenAPI operation object of ``view``."""
    summary = (view.__doc__ or "").strip().splitlines()[0] if view.__doc__ else view.__name__
    op: dict[str, Any] = {
        "summary": summary,
        "operationId": endpoint.replace(".", "_"),
        "tags": [meta["tag"]],
        "security": [{"bearerAuth": []}] if meta["auth"] else [],
    }
    # A path parameter is a UUID unless given as ``(name, schema)``.
    named = [
        p if isinstance(p, tuple) else (p, {"type": "string", "format": "uuid"})
        for p in meta["path"]
    ]
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": schema} for name, schema in named
    ]
    params += [
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": text,
            "schema": {"type": "string"},
        }
        for name, text in meta["headers"]
    ]
    if meta["query"] is not None:
        params.append({"in": "query", "schema": meta["query"]})
    if params:
        op["parameters"] = params
    body = meta["body"]
    # An optional body (logout, upload-complete): sending none at all is valid too.
    required = bool(meta.get("body_required", True))
    if isinstance(body, tuple):
        op["requestBody"] = {
            "required": required,
            "content": _content(body[0], {"type": "string", "format": "binary"}),
            "description": body[1],
        }
    elif body is not None:
        op["requestBody"] = {"required": required, "content": _content("application/json", body)}
    responses = dict(meta["responses"])
    if meta["auth"]:
        responses.setdefault(401, None)
    if body is not None and not isinstance(body, tuple):
        responses.setdefault(415, None)  # a JSON body sent as anything but JSON
    op["responses"] = {str(code): _response(code, spec) for code, spec in sorted(responses.items())}
    return op


def _empty_value(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
    """``allowEmptyValue`` for query fields whose view reads ``?name=`` as "not given"."""
    return {"allowEmptyValue": True} if field.metadata.get(EMPTY_MEANS_ABSENT) else {}


def _ecma_pattern(self: Any, field: Any, ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Python's end anchor ``\\Z`` as ECMA-262's ``$``: JSON Schema regexes are ECMA-262,
    where ``\\Z`` is a literal "Z" (or a syntax error), so clients would misread it."""
    pattern = ret.get("pattern")
    if isinstance(pattern, str) and pattern.endswith("\\Z"):
        return {"pattern": pattern[:-2] + "$"}
    return {}


def build_spec(app: Flask, extra: Callable[[APISpec], None] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented route of ``app``."""
    marshmallow_plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Backdrop API",
        version="1.0.0",
        openapi_version="3.1.0",
        plugins=[_FlaskPlugin(), marshmallow_plugin],
        info={"description": "Asynchronous file processing: tasks, uploads, progress, results."},
    )
    assert marshmallow_plugin.converter is not None
    marshmallow_plugin.converter.add_parameter_attribute_function(_empty_value)
    marshmallow_plugin.converter.add_attribute_function(_ecma_pattern)  # type: ignore[no-untyped-call]
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.schema("Problem", schema=schemas.ProblemSchema)
    with app.app_context():
        for endpoint, view in sorted(app.view_functions.items()):
            meta = getattr(view, ATTR, None)
            if meta is None:
                continue
            rule = app.url_map._rules_by_endpoint[endpoint][0]
            methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
            operations = {m.lower(): build_operation(endpoint, view, meta) for m in methods}
            spec.path(view=view, app=app, operations=operations)
        if extra is not None:
            extra(spec)
    return spec.to_dict()
