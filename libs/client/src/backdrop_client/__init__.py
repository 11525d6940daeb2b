"""Python client for the Backdrop HTTP API (``backdrop_client.Client``)."""

from backdrop_client.client import ApiError, Client

__all__ = ["ApiError", "Client"]
