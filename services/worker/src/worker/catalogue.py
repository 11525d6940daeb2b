"""The processor catalogue in Redis (``backdrop:processors``), read by the gateway."""

from __future__ import annotations

import json
from collections.abc import Mapping

import redis
from backdrop_common.redis_keys import PROCESSORS_KEY

from worker.processors.api import Processor
from worker.processors.registry import describe


def catalogue_entries(processors: Mapping[str, Processor]) -> dict[str, str]:
    """``name → JSON of describe(processor)`` for the processors this worker serves."""
    return {name: json.dumps(describe(p)) for name, p in processors.items()}


def publish_catalogue(client: redis.Redis, entries: Mapping[str, str]) -> None:
    """Add (or refresh) this worker's catalogue entries.

    Only HSET, never a delete: workers serving other subsets keep their entries. The
    presence beacon calls it again with every beat, so a flushed Redis heals itself.
    """
    if entries:
        client.hset(PROCESSORS_KEY, mapping=dict(entries))  # type: ignore[arg-type]
