"""The sweeper's resources (database, Redis, storage), one set per process
(``backdrop_common.wiring``: kept on its health app)."""

from __future__ import annotations

from backdrop_common.store_resources import StoreResources
from backdrop_common.wiring import current, register
from flask import Flask

from sweeper.settings import SweeperSettings


class Resources(StoreResources[SweeperSettings]):
    """What the sweep loop, the webhook dispatcher and ``/readyz`` use."""


def init_app(app: Flask, settings: SweeperSettings) -> Resources:
    """Create the resources for ``app`` and register them."""
    return register(app, Resources.from_settings(settings))


def resources() -> Resources:
    """The resources of the current app."""
    return current(Resources)
