"""The upload service's resources (database, Redis, storage), one set per app
(``backdrop_common.wiring``)."""

from __future__ import annotations

from backdrop_common.store_resources import StoreResources
from backdrop_common.wiring import current, register
from flask import Flask

from upload_service.settings import UploadSettings


class Resources(StoreResources[UploadSettings]):
    """Everything a request handler needs besides the request."""


def init_app(app: Flask, settings: UploadSettings) -> Resources:
    """Create the resources for ``app`` and register them."""
    return register(app, Resources.from_settings(settings))


def resources() -> Resources:
    """The resources of the current app."""
    return current(Resources)
