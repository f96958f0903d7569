"""Transactional outbox and its relay.

Handlers `stage` events in the same database transaction as their state change. The relay
publishes staged rows in commit order with the idempotent producer and deletes them only
after Kafka acknowledged them (`acks=all`): delivery is at least once, and consumers drop
repeats by event id. Only one relay per service publishes at a time (a PostgreSQL advisory
lock elects it), so per-key order survives any number of instances.

Outages. A batch is deleted in the same transaction that read it, after every record of it
was acknowledged; if the database or the broker goes away in between, the transaction rolls
back and the rows are published again later (a repeat, never a loss). While PostgreSQL or
Kafka is unavailable the relay tries again with capped exponential backoff and jitter; the
advisory lock dies with the database session, so after a restart whichever instance gets
it first goes on.
"""

import asyncio
import logging
import time
import zlib
from datetime import datetime

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from crm_contracts.envelope import CONTENT_TYPE, Envelope
from crm_runtime.backoff import backoff, sleep_or_stop
from crm_runtime.db import is_outage
from crm_runtime.dlq import broker_unavailable
from crm_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

# The relay runs on the API's event loop: it hands the loop back after this many sends, so a
# batch of hundreds of events never holds requests up for the whole batch's serialising.
YIELD_EVERY = 50
PUBLISHED = Counter("crm_outbox_published_total", "Events published by the outbox relay", ["topic"])
BACKLOG = Gauge("crm_outbox_backlog", "Rows waiting in the outbox (as of the relay's last look)")
LEADER = Gauge("crm_outbox_relay_leader", "1 when this instance's relay holds the publishing lock")
# The backlog above stops at one batch (`relay_batch_size`); the age of the oldest waiting row
# keeps growing while the relay falls behind, whatever the batch size: the signal to alert on.
OLDEST = Gauge("crm_outbox_oldest_age_seconds", "Age of the oldest row waiting in the outbox (as of the relay's last look)")


class Outbox:
    """Stages events; the caller's unit of work commits them with its state change."""

    def __init__(self, table: Table, settings: ServiceSettings) -> None:
        self._table = table
        self._settings = settings
        self.committed = asyncio.Event()  # wakes this process's relay right after a commit

    def _on_commit(self, _session: object) -> None:
        self.committed.set()

    async def stage(self, session: AsyncSession, topic: str, key: str, event: Envelope) -> None:
        await self.stage_many(session, [(topic, key, event)])

    async def stage_many(self, session: AsyncSession, events: list[tuple[str, str, Envelope]]) -> None:
        """Stage (topic, key, event) triples in one statement."""
        if not events:
            return
        if not sa_event.contains(session.sync_session, "after_commit", self._on_commit):
            sa_event.listen(session.sync_session, "after_commit", self._on_commit, once=True)
        rows = [
            {"event_id": event.id, "topic": self._settings.topic(topic), "key": key, "envelope": event.model_dump(mode="json")}
            for topic, key, event in events
        ]
        await session.execute(insert(self._table), rows)


class OutboxRelay:
    def __init__(
        self, engine: AsyncEngine, table: Table, producer: AIOKafkaProducer, settings: ServiceSettings, wakeup: asyncio.Event | None = None
    ) -> None:
        self._failures = 0  # tries in a row that met an error: the next pause grows with them
        self._wakeup = wakeup or asyncio.Event()
        self._engine = engine
        self._table = table
        self._producer = producer
        self._settings = settings
        self._lock_key = zlib.crc32(f"outbox-relay:{settings.service_name}".encode())

    async def run(self, stop: asyncio.Event) -> None:
        self._failures = 0
        while not stop.is_set():
            try:
                async with self._engine.connect() as conn:
                    if not await conn.scalar(select(func.pg_try_advisory_lock(self._lock_key))):
                        await conn.rollback()
                        LEADER.set(0)
                        self._failures = 0
                        await sleep_or_stop(stop, 1.0)
                        continue
                    await conn.commit()
                    LEADER.set(1)
                    try:
                        await self._publish_until_stopped(conn, stop)
                    finally:
                        LEADER.set(0)
                        BACKLOG.set(0)  # the next leader reports them: no stale figure stays here
                        OLDEST.set(0)
                        await _unlock(conn, self._lock_key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff(self._failures)
                self._failures += 1
                if is_outage(exc) or broker_unavailable(exc):
                    log.warning("outbox relay: database or broker unavailable (%s); trying again in %.1f s", type(exc).__name__, delay)
                else:
                    log.exception("outbox relay failed; trying again in %.1f s", delay)
                await sleep_or_stop(stop, delay)

    async def _publish_until_stopped(self, conn: AsyncConnection, stop: asyncio.Event) -> None:
        """Publish while there is work; when idle, wait for a local commit or poll slowly.

        Commits in this process wake the relay at once; rows staged by other instances
        are picked up by the poll, whose interval doubles up to `relay_max_idle_ms`.
        """
        idle = self._settings.relay_idle_sleep_ms / 1000
        while not stop.is_set():
            self._wakeup.clear()
            published = await self.publish_batch(conn)
            self._failures = 0
            if published >= self._settings.relay_batch_size:
                idle = self._settings.relay_idle_sleep_ms / 1000
                continue
            if published:
                idle = self._settings.relay_idle_sleep_ms / 1000
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=idle)
                await asyncio.sleep(self._settings.relay_linger_ms / 1000)
            except TimeoutError:
                idle = min(idle * 2, self._settings.relay_max_idle_ms / 1000)

    async def publish_batch(self, conn: AsyncConnection) -> int:
        """Publish the oldest staged rows; delete them once every one is acknowledged."""
        t = self._table
        async with conn.begin():
            rows = (
                await conn.execute(
                    select(t.c.seq, t.c.topic, t.c.key, t.c.envelope).order_by(t.c.seq).limit(self._settings.relay_batch_size)
                )
            ).all()
            if not rows:
                BACKLOG.set(0)
                OLDEST.set(0)
                return 0
            OLDEST.set(_age(rows[0].envelope))
            futures = []
            for index, row in enumerate(rows, 1):
                value, headers = orjson.dumps(row.envelope), _headers(row.envelope)
                futures.append(await self._producer.send(row.topic, value=value, key=row.key.encode(), headers=headers))
                if index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a send that finds room in its batch never yields: let requests in between
            await asyncio.gather(*futures)
            await conn.execute(delete(t).where(t.c.seq.in_([r.seq for r in rows])))
        for row in rows:
            PUBLISHED.labels(row.topic).inc()
        BACKLOG.set(len(rows))
        return len(rows)


def _age(envelope: dict[str, object]) -> float:
    """Seconds since the envelope's `time` (0 when it has none it can read, or lies ahead)."""
    stamp = envelope.get("time")
    try:
        created = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        created = None
    return max(0.0, time.time() - created.timestamp()) if created is not None else 0.0


def _headers(envelope: dict[str, object]) -> list[tuple[str, bytes]]:
    headers = [("content-type", CONTENT_TYPE.encode())]
    if isinstance(traceparent := envelope.get("traceparent"), str):
        headers.append(("traceparent", traceparent.encode()))
    return headers


async def _unlock(conn: AsyncConnection, key: int) -> None:
    """Give the publishing lock back. When the connection is broken (a database restart),
    discard it: the lock ended with its session, and a pooled session must not keep it."""
    try:
        await conn.rollback()
        await conn.execute(select(func.pg_advisory_unlock(key)))
        await conn.commit()
    except Exception:  # noqa: BLE001 - whatever went wrong, the session must not go back to the pool
        try:
            await conn.invalidate()
        except Exception:  # noqa: BLE001 - already closed: nothing left to discard
            log.debug("outbox relay: connection already gone")
