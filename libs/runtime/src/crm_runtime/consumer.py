"""Kafka consumer with inbox de-duplication, bounded retries and a dead-letter topic.

Delivery semantics: offsets are committed only after the database transaction that applied
the messages has committed (at least once); the inbox row written in that same transaction
makes a redelivered event a no-op (effectively once). Partitions of one poll are processed
concurrently, each partition's messages in order, in one transaction; if that transaction
fails, its messages are applied one at a time so a single poison message cannot hold the
others back. A message that keeps failing goes to `<topic>.dlq` with the error after
`consumer_max_retries` attempts. Infrastructure outages (database unreachable) are retried
without limit instead: they say nothing about the message.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics as contract_topics
from crm_contracts.envelope import Envelope
from crm_runtime.settings import ServiceSettings
from crm_runtime.telemetry import consuming

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, list[Envelope]], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """A handler that takes a run of consecutive events of its type in one call.

    Set-based handlers turn N events into a few statements; the run keeps partition order,
    and events of other types between them split the run.
    """

    handle: BatchHandler


PROCESSED = Counter("crm_consumer_messages_total", "Messages handled", ["topic", "outcome"])
LAG = Gauge("crm_consumer_lag", "Messages behind the partition end", ["topic", "partition"])


class PoisonMessage(Exception):
    """The message can never be applied (unparseable or invalid): dead-letter it now."""


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError, ConnectionError, OSError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class EventConsumer:
    def __init__(
        self,
        settings: ServiceSettings,
        session_factory: async_sessionmaker[AsyncSession],
        inbox: Table,
        topics: Sequence[str],
        handlers: Mapping[str, Handler | Batched],
        producer: AIOKafkaProducer,
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._inbox = inbox
        self._topics = [settings.topic(t) for t in topics]
        self._handlers = handlers
        self._producer = producer
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            group_id=self._settings.consumer_group,
            client_id=f"{self._settings.service_name}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._settings.consumer_batch_size,
            isolation_level="read_committed",
            # Let the broker gather a little: fewer, larger batches under load (set-based
            # handlers, one transaction per partition batch) for a bounded wait per hop.
            fetch_max_wait_ms=self._settings.consumer_fetch_max_wait_ms,
            fetch_min_bytes=self._settings.consumer_fetch_min_bytes,
        )
        await consumer.start()
        self.ready.set()
        pending: dict[TopicPartition, int] = {}
        last_commit = asyncio.get_running_loop().time()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self._settings.consumer_batch_size)
                if batches:
                    done = await asyncio.gather(*(self._process_partition(msgs) for msgs in batches.values()))
                    pending.update({tp: msgs[-1].offset + 1 for (tp, msgs), ok in zip(batches.items(), done, strict=True) if ok})
                    self._record_lag(consumer, batches)
                # Offsets are committed at intervals: a redelivery after a crash is a no-op
                # thanks to the inbox, and a commit per poll would cost a broker round trip.
                now = asyncio.get_running_loop().time()
                if pending and now - last_commit >= self._settings.consumer_commit_interval_ms / 1000:
                    await self._commit(consumer, pending)
                    pending, last_commit = {}, now
        finally:
            self.ready.clear()
            try:
                await self._commit(consumer, pending)
            finally:
                await consumer.stop()

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions away; the new owner redelivers and the inbox
            # turns the repeats into no-ops.
            log.warning("offset commit failed (%s); messages will be redelivered", exc)

    def _record_lag(self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for tp, msgs in batches.items():
            high = consumer.highwater(tp)
            if high is not None:
                LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - msgs[-1].offset - 1))

    async def _process_partition(self, msgs: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """Apply `msgs` in order; False when stopping left some of them unapplied."""
        try:
            events = [self._parse(msg) for msg in msgs]
            async with self._sessions() as session, session.begin():
                fresh = await self._claim(session, [e for e in events if e.type in self._handlers])
                todo = []
                for event in events:
                    if event.id in fresh:
                        fresh.discard(event.id)  # a repeat inside the same batch is a no-op too
                        todo.append(event)
                await self._handle(session, todo)
            for msg in msgs:
                PROCESSED.labels(msg.topic, "ok").inc()
            return True
        except Exception as exc:  # noqa: BLE001 - fall back to one at a time
            log.info("batch of %d on %s failed (%s); applying one at a time", len(msgs), msgs[0].topic, exc)
        for msg in msgs:
            if not await self._process_one(msg):
                return False
        return True

    async def _process_one(self, msg: ConsumerRecord[bytes, bytes]) -> bool:
        attempt = 0
        while True:
            try:
                async with self._sessions() as session, session.begin():
                    await self._apply(session, msg)
                PROCESSED.labels(msg.topic, "ok").inc()
                return True
            except Exception as exc:  # noqa: BLE001 - every failure is classified below
                if _is_outage(exc):
                    if self._stop.is_set():
                        return False
                    log.warning("infrastructure unavailable (%s); retrying", exc)
                    await asyncio.sleep(min(5.0, 0.2 * 2 ** min(attempt, 5)))
                    attempt += 1
                    continue
                attempt += 1
                if isinstance(exc, PoisonMessage) or attempt >= self._settings.consumer_max_retries:
                    await self._dead_letter(msg, exc)
                    return True
                log.warning("attempt %d of message %s@%d failed: %r", attempt, msg.topic, msg.offset, exc)
                await asyncio.sleep(self._settings.consumer_retry_backoff_ms / 1000 * attempt)

    @staticmethod
    def _parse(msg: ConsumerRecord[bytes, bytes]) -> Envelope:
        try:
            return Envelope.model_validate_json(msg.value or b"")
        except ValidationError as exc:
            raise PoisonMessage(f"not a CloudEvents envelope: {exc}") from exc

    async def _claim(self, session: AsyncSession, events: list[Envelope]) -> set[UUID]:
        """Record `events` in the inbox; returns the ids not applied before (one statement)."""
        if not events:
            return set()
        unique = {e.id: e.type for e in events}
        # executemany form: one cached statement whatever the batch size (a multi-row VALUES
        # would be compiled anew for every size).
        claimed = await session.scalars(
            insert(self._inbox).on_conflict_do_nothing().returning(self._inbox.c.event_id),
            [{"event_id": i, "event_type": t} for i, t in unique.items()],
        )
        return set(claimed)

    async def _handle(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Dispatch in order: runs of one type go to a `Batched` handler in one call."""
        for event_type, group in groupby(events, key=lambda e: e.type):
            handler, run = self._handlers[event_type], list(group)
            try:
                if isinstance(handler, Batched):
                    with consuming(event_type, run):
                        await handler.handle(session, run)
                else:
                    for event in run:
                        with consuming(event_type, [event]):
                            await handler(session, event)
            except ValidationError as exc:
                raise PoisonMessage(f"invalid {event_type} payload: {exc}") from exc

    async def _apply(self, session: AsyncSession, msg: ConsumerRecord[bytes, bytes]) -> None:
        event = self._parse(msg)
        if event.type not in self._handlers:
            return  # a type this service does not care about (forward compatible)
        if await self._claim(session, [event]):
            await self._handle(session, [event])

    async def _dead_letter(self, msg: ConsumerRecord[bytes, bytes], exc: BaseException) -> None:
        log.error("dead-lettering %s@%d/%d: %r", msg.topic, msg.partition, msg.offset, exc)
        headers = list(msg.headers or ()) + [
            ("dlq-error", repr(exc)[:2000].encode()),
            ("dlq-source", f"{msg.topic}/{msg.partition}/{msg.offset}".encode()),
            ("dlq-consumer", self._settings.consumer_group.encode()),
        ]
        await self._producer.send_and_wait(contract_topics.dead_letter(msg.topic), value=msg.value, key=msg.key, headers=headers)
        PROCESSED.labels(msg.topic, "dead_lettered").inc()
