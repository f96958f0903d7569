"""Outbox relay and inbox consumer against the real PostgreSQL and Kafka."""

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import Column, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.envelope import Envelope
from crm_runtime.consumer import EventConsumer
from crm_runtime.db import make_engine, make_session_factory
from crm_runtime.delivery_tables import inbox_table, outbox_table
from crm_runtime.kafka import ensure_topics, make_producer
from crm_runtime.outbox import Outbox, OutboxRelay
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration

PG = os.environ.get("CRM_TEST_PG", "postgresql://crm:crm@127.0.0.1:5432")
KAFKA = os.environ.get("CRM_TEST_KAFKA", "127.0.0.1:9092")
TOPIC = "crm.test.events.v1"


class Harness:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.metadata = MetaData()
        self.outbox_t = outbox_table(self.metadata)
        self.inbox_t = inbox_table(self.metadata)
        self.notes = Table("notes", self.metadata, Column("event_id", String(40), primary_key=False), Column("text", String(200)))
        self.engine = make_engine(settings)
        self.sessions = make_session_factory(self.engine)
        self.outbox = Outbox(self.outbox_t, settings)

    def event(self, text: str, subject: str = "c1") -> Envelope:
        return Envelope(source="/crm/test", type="crm.test.noted.v1", subject=subject, data={"text": text})

    async def consume(self, topic: str, count: int, timeout: float = 20) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, group_id=f"reader-{uuid.uuid4()}", auto_offset_reset="earliest")
        await consumer.start()
        got: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while len(got) < count and asyncio.get_running_loop().time() < deadline:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    got += [(r.key, r.value or b"", dict(r.headers or ())) for r in records]
            await asyncio.sleep(0.5)  # a short look for anything beyond what was expected
            for records in (await consumer.getmany(timeout_ms=300)).values():
                got += [(r.key, r.value or b"", dict(r.headers or ())) for r in records]
        finally:
            await consumer.stop()
        return got


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    tag = f"it{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG + "/postgres")
    await admin.execute(f'CREATE DATABASE "{tag}"')
    settings = ServiceSettings(
        service_name=f"svc-{tag}",
        http_port=0,
        database_url=PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + tag,
        kafka_bootstrap_servers=KAFKA,
        topic_namespace=f"{tag}.",
        topic_partitions=3,
        consumer_max_retries=3,
        consumer_retry_backoff_ms=10,
    )
    h = Harness(settings)
    async with h.engine.begin() as conn:
        await conn.run_sync(h.metadata.create_all)
    await ensure_topics(settings, [TOPIC])
    yield h
    await h.engine.dispose()
    await admin.execute(f'DROP DATABASE "{tag}" WITH (FORCE)')
    await admin.close()


async def _run_for(coro_factory, stop: asyncio.Event, until, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    task = asyncio.create_task(coro_factory(stop))
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await until():
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def test_relay_publishes_committed_events_in_order_and_empties_the_outbox(harness: Harness) -> None:
    events = [harness.event(f"n{i}", subject="customer-1") for i in range(50)]
    async with harness.sessions() as session, session.begin():
        for e in events:
            await harness.outbox.stage(session, TOPIC, "customer-1", e)
    rolled_back = harness.event("never")
    async with harness.sessions() as session:
        async with session.begin():
            await harness.outbox.stage(session, TOPIC, "customer-1", rolled_back)
            await session.rollback()

    producer = make_producer(harness.settings)
    await producer.start()
    try:
        relay = OutboxRelay(harness.engine, harness.outbox_t, producer, harness.settings)

        async def drained() -> bool:
            async with harness.sessions() as s:
                return await s.scalar(select(func.count()).select_from(harness.outbox_t)) == 0

        await _run_for(relay.run, asyncio.Event(), drained)
    finally:
        await producer.stop()

    got = await harness.consume(harness.settings.topic(TOPIC), 50)
    ids = [json.loads(value)["id"] for _, value, _ in got]
    assert ids == [str(e.id) for e in events], "all committed events, once each, in commit order"
    assert {key for key, _, _ in got} == {b"customer-1"}
    assert all(headers["content-type"] == b"application/cloudevents+json" for _, _, headers in got)


async def test_only_one_relay_publishes_at_a_time(harness: Harness) -> None:
    async with harness.sessions() as session, session.begin():
        for i in range(200):
            await harness.outbox.stage(session, TOPIC, f"k{i % 7}", harness.event(f"n{i}", subject=f"k{i % 7}"))
    producers = [make_producer(harness.settings) for _ in range(2)]
    for p in producers:
        await p.start()
    stop = asyncio.Event()
    relays = [OutboxRelay(harness.engine, harness.outbox_t, p, harness.settings) for p in producers]
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    try:

        async def drained() -> bool:
            async with harness.sessions() as s:
                return await s.scalar(select(func.count()).select_from(harness.outbox_t)) == 0

        for _ in range(400):
            if await drained():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for p in producers:
            await p.stop()
    got = await harness.consume(harness.settings.topic(TOPIC), 200)
    texts = [json.loads(v)["data"]["text"] for _, v, _ in got]
    assert len(texts) == len(set(texts)) == 200, "each event published exactly once"
    for k in range(7):
        per_key = [int(json.loads(v)["data"]["text"][1:]) for key, v, _ in got if key == f"k{k}".encode()]
        assert per_key == sorted(per_key), f"order kept for key k{k}"


async def _produce(topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all")
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, v, key=b"same-partition")
    finally:
        await producer.stop()


async def test_consumer_applies_each_event_once_and_dead_letters_poison(harness: Harness) -> None:
    good = harness.event("first")
    failing = harness.event("explodes")
    later = harness.event("after the poison")
    await _produce(
        harness.settings.topic(TOPIC),
        [
            good.model_dump_json().encode(),
            good.model_dump_json().encode(),
            b"{not json",
            failing.model_dump_json().encode(),
            later.model_dump_json().encode(),
        ],
    )
    attempts: dict[str, int] = {}

    async def handler(session: AsyncSession, event: Envelope) -> None:
        attempts[event.data["text"]] = attempts.get(event.data["text"], 0) + 1
        if event.data["text"] == "explodes":
            raise RuntimeError("handler bug")
        await session.execute(insert(harness.notes).values(event_id=str(event.id), text=event.data["text"]))

    producer = make_producer(harness.settings)
    await producer.start()
    try:
        consumer = EventConsumer(harness.settings, harness.sessions, harness.inbox_t, [TOPIC], {"crm.test.noted.v1": handler}, producer)

        async def applied() -> bool:
            async with harness.sessions() as s:
                return (
                    await s.scalar(select(func.count()).select_from(harness.notes).where(harness.notes.c.text == "after the poison")) == 1
                )

        await _run_for(consumer.run, asyncio.Event(), applied)
        # A second consumer in the same group finds nothing left: offsets were committed.
        again = EventConsumer(harness.settings, harness.sessions, harness.inbox_t, [TOPIC], {"crm.test.noted.v1": handler}, producer)
        stop = asyncio.Event()
        task = asyncio.create_task(again.run(stop))
        await asyncio.sleep(3)
        stop.set()
        await task
    finally:
        await producer.stop()

    async with harness.sessions() as s:
        notes = (await s.execute(select(harness.notes.c.text).order_by(harness.notes.c.text))).scalars().all()
    assert notes == ["after the poison", "first"], "the duplicate delivery of 'first' was a no-op"
    assert attempts["explodes"] == 3, "bounded retries"
    dead = await harness.consume(harness.settings.topic(TOPIC) + ".dlq", 2)
    assert sorted(v for _, v, _ in dead) == sorted([b"{not json", failing.model_dump_json().encode()])
    assert all("dlq-error" in h and h["dlq-consumer"] == harness.settings.consumer_group.encode() for _, _, h in dead)
    assert any(b"handler bug" in h["dlq-error"] for _, _, h in dead)
