"""Python client for the Backdrop HTTP API: ``Client`` and the errors it raises."""

from backdrop_contract.states import STATUSES, TERMINAL, UNFINISHED

from backdrop_client.client import Client, Task
from backdrop_client.credentials import Credentials
from backdrop_client.errors import ApiError, BackdropError, StorageError, Unreachable
from backdrop_client.live import Event
from backdrop_client.transfer import sha256_file
from backdrop_client.transport import default_url

__all__ = [
    "STATUSES",
    "TERMINAL",
    "UNFINISHED",
    "ApiError",
    "BackdropError",
    "Client",
    "Credentials",
    "Event",
    "StorageError",
    "Task",
    "Unreachable",
    "default_url",
    "sha256_file",
]
