"""The Redis Streams side of a worker: consumer group membership, reads, reclaims, ACKs.

Delivery is at-least-once and the task store decides who runs a job (``taskstore.claim``), so
everything here may hand out duplicates; it must only never *drop* a message someone still
needs. Hence: read no more than there are free slots, ACK only after the final state is
written, and keep the messages of running jobs "fresh" (see :meth:`StreamConsumer.touch`) so
no live worker's job looks abandoned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
from backdrop_common import jobs, redis_keys

log = logging.getLogger(__name__)


# KEYS: the streams in the order to try; ARGV: group, consumer, how many. New entries from
# each stream in turn until that many are taken: [[stream, [[id, [field, value, ...]]]]].
_TAKE = """
local out, want = {}, tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
    if want <= 0 then break end
    local got = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', want,
                           'STREAMS', key, '>')
    if got then
        want = want - #got[1][2]
        table.insert(out, got[1])
    end
end
return out
"""


@dataclass(frozen=True)
class Delivery:
    """One job message handed to this worker."""

    stream: str
    message_id: str
    task_id: str | None
    traceparent: str | None = None  # the trace of the task's request, when traced


def _delivery(stream: str, message_id: str, fields: dict[str, str]) -> Delivery:
    return Delivery(stream, message_id, fields.get("task_id"), fields.get("traceparent"))


class StreamConsumer:
    """Reads job messages for a set of processors as consumer ``consumer`` of ``workers``."""

    def __init__(
        self,
        client: redis.Redis,
        processors: Iterable[str],
        consumer: str,
        *,
        block_ms: int,
        reclaim_idle_ms: int = 45_000,
    ) -> None:
        self.redis = client
        self.processors = sorted(processors)
        self.streams = [redis_keys.job_stream(name) for name in self.processors]
        self.consumer = consumer
        self.group = redis_keys.JOB_GROUP
        self.block_ms = block_ms
        self.reclaim_idle_ms = reclaim_idle_ms
        self._next = 0  # round-robin start, so one busy stream cannot starve the others
        # XAUTOCLAIM scans a bounded slice of the pending list per call; resume where the
        # last call stopped so a long pending list is covered in turn.
        self._cursors = dict.fromkeys(self.streams, "0-0")
        self._take = client.register_script(_TAKE)

    def ensure_groups(self) -> None:
        """Create the consumer group on every stream (and the stream) if missing.

        The group starts at ``0``, not ``$``: jobs enqueued before any worker ever ran must be
        delivered too.
        """
        for name in self.processors:
            jobs.ensure_group(self.redis, name)

    def read(self, free: int) -> list[Delivery]:
        """New messages, at most ``free`` of them; blocks up to ``block_ms`` when idle."""
        if free <= 0:
            return []
        # A non-blocking pass first, one stream after the other until ``free`` are taken so
        # the count is exact, in one round trip (a script): done as one XREADGROUP per
        # stream it cost a worker serving five processors ~3 reads per job, mostly empty.
        order = self.streams[self._next :] + self.streams[: self._next]
        self._next = (self._next + 1) % len(self.streams)
        reply: Any = self._take(keys=order, args=[self.group, self.consumer, free])
        taken = [
            _delivery(stream, message_id, dict(zip(flat[::2], flat[1::2], strict=True)))
            for stream, entries in reply or []
            for message_id, flat in entries
        ]
        if taken:
            return taken
        # Nothing waiting: block on all streams for one message. If several streams fill up
        # at the same instant Redis may answer with more than one; the surplus stays pending
        # (never claimed, never ACKed) and XAUTOCLAIM hands it out again later.
        got = self._xreadgroup(dict.fromkeys(self.streams, ">"), 1, self.block_ms)
        if len(got) > free:
            log.info("left %d surplus message(s) pending for reclaim", len(got) - free)
        return got[:free]

    def _xreadgroup(self, which: dict[str, str], count: int, block: int | None) -> list[Delivery]:
        streams_arg: Any = which  # redis-py's annotation is narrower than what it accepts
        reply: Any = self.redis.xreadgroup(
            self.group, self.consumer, streams_arg, count=count, block=block
        )
        out: list[Delivery] = []
        for stream, entries in reply or []:
            for message_id, fields in entries:
                out.append(_delivery(stream, message_id, fields or {}))
        return out

    def reclaim(self, free: int) -> list[Delivery]:
        """Take over up to ``free`` messages that another consumer left idle too long."""
        taken: list[Delivery] = []
        for stream in self.streams:
            want = free - len(taken)
            if want <= 0:
                break
            reply: Any = self.redis.xautoclaim(
                stream,
                self.group,
                self.consumer,
                self.reclaim_idle_ms,
                self._cursors[stream],
                count=want,
            )
            self._cursors[stream] = reply[0]
            # Redis 7 answers [cursor, entries, deleted ids]; deleted entries are simply gone.
            for message_id, fields in reply[1]:
                if fields is None:
                    continue
                taken.append(_delivery(stream, message_id, fields))
                log.info("reclaimed %s from %s", message_id, stream)
        return taken

    def touch(self, delivery: Delivery) -> None:
        """Reset the idle time of a running job's message (we still hold its lease)."""
        self.redis.xclaim(
            delivery.stream, self.group, self.consumer, 0, [delivery.message_id], justid=True
        )

    def ack(self, delivery: Delivery) -> None:
        """Acknowledge a message whose job has reached its final state, and drop it.

        One group reads each stream, so an acknowledged entry is of no further use: deleting
        it keeps the stream as long as the work not yet done (it would otherwise grow by one
        entry per task forever).
        """
        pipe = self.redis.pipeline(transaction=False)
        self.queue_ack(pipe, delivery)
        pipe.execute()

    def queue_ack(self, pipe: Any, delivery: Delivery) -> None:
        """Queue :meth:`ack`'s commands on ``pipe`` (to send them with others in one trip)."""
        pipe.xack(delivery.stream, self.group, delivery.message_id)
        pipe.xdel(delivery.stream, delivery.message_id)

    def leave(self) -> None:
        """Remove this consumer from the group on every stream where it holds nothing.

        A consumer with pending messages stays: deleting it would drop them from the
        pending list, and another worker must still be able to reclaim them.
        """
        for stream in self.streams:
            try:
                mine = self.redis.xpending_range(
                    stream, self.group, min="-", max="+", count=1, consumername=self.consumer
                )
                if not mine:
                    self.redis.xgroup_delconsumer(stream, self.group, self.consumer)
            except redis.RedisError as exc:
                log.warning("could not leave the group on %s: %s", stream, type(exc).__name__)

    def prune(self, is_live: Callable[[str], bool], idle_ms: int) -> int:
        """Delete consumers of workers that left without :meth:`leave` (killed, crashed).

        Only a consumer that holds no message, has been idle ``idle_ms`` and whose worker
        announces no presence; if it was wrong, the consumer simply reappears on its next read.
        """
        removed = 0
        for stream in self.streams:
            consumers: Any = self.redis.xinfo_consumers(stream, self.group)
            for consumer in consumers:
                name = str(consumer["name"])
                if name == self.consumer or int(consumer["pending"]) or consumer["idle"] < idle_ms:
                    continue
                if not is_live(name):
                    self.redis.xgroup_delconsumer(stream, self.group, name)
                    removed += 1
        if removed:
            log.info("removed %d consumer(s) of workers that are gone", removed)
        return removed
