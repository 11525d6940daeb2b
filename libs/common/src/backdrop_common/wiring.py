"""One way to wire a service: its collaborators in one ``Resources`` object per app.

Every service has a ``resources`` module with a ``Resources`` class (settings, database,
Redis, ... built from the service's settings), ``init_app(app, settings)`` that builds it
and registers it in ``app.extensions`` (Flask's pattern for extensions), and
``resources()`` that returns the current app's. These two functions are that registration.
"""

from __future__ import annotations

from typing import TypeVar

from flask import Flask, current_app

EXTENSION = "backdrop.resources"
T = TypeVar("T")


def register(app: Flask, resources: T) -> T:
    """Keep ``resources`` in ``app.extensions`` for the app's views; returns it."""
    app.extensions[EXTENSION] = resources
    return resources


def current(kind: type[T]) -> T:
    """The current app's resources, which must be a ``kind``."""
    resources = current_app.extensions[EXTENSION]
    if not isinstance(resources, kind):
        raise TypeError(f"this app's resources are a {type(resources).__name__}, not {kind}")
    return resources
