"""Live pushes: the public topics, read by every console instance, turned into thin signals for
the pages that are open.

Each instance reads the customer, allocation and timeline topics from their end, without a
consumer group and committing nothing (a page opened later reads the current state through the
APIs anyway). A record becomes a `Signal(workspace, customer_id, kind)` — no personal data, no
fields — and goes to the queues of the open pages that *watch that customer* in that workspace:
a page watches only the customers it already shows, which its person may see. The page then
re-reads what changed with its person's own token, so permissions decide what appears.
A record that is not an envelope is skipped (logged by topic and offset, never its content).
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

QUEUE_SIZE = 200  # signals a slow page may fall behind by; older ones are dropped (the page re-reads anyway)


@dataclass(frozen=True)
class Signal:
    workspace: str
    customer_id: str
    kind: str  # "timeline", "card" or "owner"

    @property
    def event_name(self) -> str:
        return f"{self.kind}-{self.customer_id}"


def signal_of(topic_kind: str, value: bytes) -> Signal | None:
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(envelope, dict):
        return None
    workspace, subject = envelope.get("workspace"), envelope.get("subject")
    if not isinstance(workspace, str) or not isinstance(subject, str) or not subject:
        return None
    return Signal(workspace, subject, topic_kind)


@dataclass(eq=False)
class Watch:
    workspace: str
    customers: frozenset[str]
    queue: asyncio.Queue[Signal] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


class Hub:
    """Open pages and what they watch; `publish` hands a signal to each page watching its customer."""

    def __init__(self) -> None:
        self._by_customer: dict[tuple[str, str], set[Watch]] = defaultdict(set)

    def open(self, workspace: str, customers: Sequence[str]) -> Watch:
        watch = Watch(workspace, frozenset(customers))
        for customer in watch.customers:
            self._by_customer[(workspace, customer)].add(watch)
        return watch

    def close(self, watch: Watch) -> None:
        for customer in watch.customers:
            watchers = self._by_customer.get((watch.workspace, customer))
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._by_customer[(watch.workspace, customer)]

    def publish(self, signal: Signal) -> int:
        delivered = 0
        for watch in list(self._by_customer.get((signal.workspace, signal.customer_id), ())):
            if watch.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    watch.queue.get_nowait()
            watch.queue.put_nowait(signal)
            delivered += 1
        return delivered

    @property
    def open_pages(self) -> int:
        return len({w for watchers in self._by_customer.values() for w in watchers})


class LiveFeed:
    """Reads `topics` (topic name -> signal kind) into the hub until stopped."""

    def __init__(self, hub: Hub, topics: dict[str, str], connection: dict[str, Any], client_id: str) -> None:
        self._hub = hub
        self._topics = topics
        self._connection = connection
        self._client_id = client_id
        self.running = False

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._consume(stop)
            except (KafkaError, OSError) as exc:
                self.running = False
                log.warning("live feed: broker unavailable (%s); retrying", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)

    async def _consume(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            *self._topics,
            **self._connection,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id=self._client_id,
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        self.running = True
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for partition, records in batches.items():
                    kind = self._topics.get(partition.topic, "card")
                    for record in records:
                        signal = signal_of(kind, record.value or b"")
                        if signal is None:
                            log.warning("live feed: skipped a record that is not an envelope (%s/%s@%s)", *partition, record.offset)
                            continue
                        self._hub.publish(signal)
        finally:
            self.running = False
            await consumer.stop()
