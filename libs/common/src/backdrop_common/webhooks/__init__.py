"""Webhooks: endpoints and per-task callbacks (``store``), the address check that keeps
them off internal networks (``targets``). Deliveries are queued by a database trigger on
every terminal status (migration ``006_webhooks.sql``) and sent by the sweeper."""

from backdrop_common.webhooks.store import (
    Endpoint,
    add_callback,
    create_endpoint,
    delete_endpoint,
    deliveries,
    endpoint_json,
    list_endpoints,
    new_secret,
    rotate_secret,
    task_deliveries,
)
from backdrop_common.webhooks.targets import IPAddress, UnsafeTarget, check_target

__all__ = [
    "Endpoint",
    "IPAddress",
    "UnsafeTarget",
    "add_callback",
    "check_target",
    "create_endpoint",
    "delete_endpoint",
    "deliveries",
    "endpoint_json",
    "list_endpoints",
    "new_secret",
    "rotate_secret",
    "task_deliveries",
]
