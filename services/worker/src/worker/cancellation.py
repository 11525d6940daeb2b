"""Hearing about cancellations: the ``backdrop:cancel`` channel, with a key as fallback.

Pub/sub is instant but fire-and-forget: a message sent while this worker reconnects is lost.
So every running job also polls ``backdrop:cancel:<task_id>`` (set by the gateway with the
publish) about twice a second, and looks at the row's ``cancel_requested`` when it starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
from backdrop_common.redis_client import redis_from_url
from backdrop_common.redis_keys import CANCEL_CHANNEL

log = logging.getLogger(__name__)

# How often the listener looks at its stop event: a stopping worker waits for it this long.
POLL_S = 0.1


class CancelListener(threading.Thread):
    """Subscribes to ``backdrop:cancel`` and calls ``on_cancel(task_id)`` for each message."""

    def __init__(
        self, redis_url: str, on_cancel: Callable[[str], None], stop: threading.Event
    ) -> None:
        super().__init__(name="cancel-listener", daemon=True)
        self.redis_url = redis_url
        self.on_cancel = on_cancel
        self.stop = stop
        self.subscribed = threading.Event()  # tests and start-up wait for this

    def run(self) -> None:
        """Listen until ``stop`` is set, reconnecting after Redis errors."""
        while not self.stop.is_set():
            client = redis_from_url(self.redis_url, socket_timeout=None)
            pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(CANCEL_CHANNEL)
                self.subscribed.set()
                while not self.stop.is_set():
                    message = pubsub.get_message(timeout=POLL_S)
                    if message and message.get("type") == "message":
                        self._dispatch(str(message["data"]))
            except redis.RedisError as exc:
                self.subscribed.clear()
                log.warning("cancel channel lost (%s); reconnecting", type(exc).__name__)
                self.stop.wait(1.0)
            finally:
                pubsub.close()
                client.close()

    def _dispatch(self, task_id: str) -> None:
        try:
            self.on_cancel(task_id.strip())
        except Exception:
            log.exception("cancel handler failed for %s", task_id)
