"""Outbox relay and inbox consumer against the real PostgreSQL and Kafka."""

import asyncio
import json
import os
import struct
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.envelope import Envelope
from crm_devtools.principals import ADMIN, ADMIN_PASSWORD, admin_connection
from crm_runtime import dlq
from crm_runtime.consumer import EventConsumer
from crm_runtime.db import make_engine, make_session_factory
from crm_runtime.delivery_tables import inbox_table, outbox_table
from crm_runtime.kafka import ensure_topics, make_producer
from crm_runtime.outbox import Outbox, OutboxRelay
from crm_runtime.registry import Message, OneHandler, Registry
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration

PG = os.environ.get("CRM_TEST_PG", "postgresql://crm:crm@127.0.0.1:5432")
KAFKA = os.environ.get("CRM_TEST_KAFKA", "127.0.0.1:9092")
TOPIC = "crm.test.events.v1"
NOTED = "crm.test.noted.v1"


class Noted(BaseModel):
    """The test app's payload (outside the contracts)."""

    model_config = ConfigDict(extra="allow")
    text: str = ""


def noted(handler: OneHandler[Noted]) -> Registry:
    """The test app's handlers: `handler` for each noted event."""
    return Registry().on(Noted, handler, event_type=NOTED)


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
        return Envelope(source="/crm/test", type=NOTED, subject=subject, data={"text": text})

    async def consume(self, topic: str, count: int, timeout: float = 20) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
        consumer = AIOKafkaConsumer(topic, **admin_connection(KAFKA), group_id=f"reader-{uuid.uuid4()}", auto_offset_reset="earliest")
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
        kafka_sasl_username=ADMIN,  # namespaced topics: no service principal may touch them
        kafka_sasl_password=ADMIN_PASSWORD,
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


async def _consume_until_notes(harness: Harness, handler: OneHandler[Noted], count: int) -> None:
    """Run a consumer of TOPIC applying `handler` (dead letters through a producer of its own)
    until the notes table holds `count` rows."""
    producer = make_producer(harness.settings)
    await producer.start()
    try:
        consumer = EventConsumer(harness.settings, harness.sessions, harness.inbox_t, [TOPIC], noted(handler), producer)

        async def applied() -> bool:
            async with harness.sessions() as s:
                return await s.scalar(select(func.count()).select_from(harness.notes)) == count

        await _run_for(consumer.run, asyncio.Event(), applied)
    finally:
        await producer.stop()


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
    producer = AIOKafkaProducer(**admin_connection(KAFKA), acks="all")
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

    async def handler(session: AsyncSession, message: Message[Noted]) -> None:
        attempts[message.payload.text] = attempts.get(message.payload.text, 0) + 1
        if message.payload.text == "explodes":
            raise RuntimeError("handler bug")
        await session.execute(insert(harness.notes).values(event_id=str(message.event.id), text=message.payload.text))

    producer = make_producer(harness.settings)
    await producer.start()
    try:
        consumer = EventConsumer(harness.settings, harness.sessions, harness.inbox_t, [TOPIC], noted(handler), producer)

        async def applied() -> bool:
            async with harness.sessions() as s:
                return (
                    await s.scalar(select(func.count()).select_from(harness.notes).where(harness.notes.c.text == "after the poison")) == 1
                )

        await _run_for(consumer.run, asyncio.Event(), applied)
        # A second consumer in the same group finds nothing left: offsets were committed.
        again = EventConsumer(harness.settings, harness.sessions, harness.inbox_t, [TOPIC], noted(handler), producer)
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


# --- Faults: a database that says "not now", a record near the broker's size limit ---------


class StartingPostgres:
    """A TCP front for PostgreSQL that answers every connection with the ErrorResponse a
    server gives while it starts up (SQLSTATE 57P03) until `open()`; then it forwards to the
    real server. `restart()` cuts every forwarded connection and refuses again."""

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self.refusing = True
        self.refused = 0
        self.first_refusal: float | None = None
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> "StartingPostgres":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._pipes):
            writer.close()
        await self._server.wait_closed()

    def open(self) -> None:
        self.refusing = False

    def restart(self) -> None:
        self.refusing = True
        for writer in list(self._pipes):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.refusing:
                await self._refuse(reader, writer)
            else:
                await self._forward(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length, code = struct.unpack("!ii", await reader.readexactly(8))
        if code == 80877103:  # SSLRequest: no SSL here, then the real startup packet
            writer.write(b"N")
            await writer.drain()
            length, code = struct.unpack("!ii", await reader.readexactly(8))
        await reader.readexactly(length - 8)
        fields = b"SFATAL\x00VFATAL\x00C57P03\x00Mthe database system is starting up\x00\x00"
        writer.write(b"E" + struct.pack("!i", len(fields) + 4) + fields)
        await writer.drain()
        self.refused += 1
        if self.first_refusal is None:
            self.first_refusal = asyncio.get_running_loop().time()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._pipes.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._pipes.difference_update({writer, up_writer})


def _through(settings: ServiceSettings, port: int) -> ServiceSettings:
    url = settings.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    assert url != settings.database_url
    return settings.model_copy(update={"database_url": url})


async def test_a_database_starting_up_is_waited_out_not_dead_lettered(harness: Harness) -> None:
    """While PostgreSQL answers 57P03 ("starting up") the message is retried for as long as
    it lasts, without using up its attempts: it is applied afterwards, nothing is dead-lettered."""
    events = [harness.event(f"during the restart {i}") for i in range(3)]
    await _produce(harness.settings.topic(TOPIC), [e.model_dump_json().encode() for e in events])

    async def handler(session: AsyncSession, message: Message[Noted]) -> None:
        await session.execute(insert(harness.notes).values(event_id=str(message.event.id), text=message.payload.text))

    async with StartingPostgres() as pg:
        engine = make_engine(_through(harness.settings, pg.port))
        producer = make_producer(harness.settings)
        await producer.start()
        try:
            consumer = EventConsumer(harness.settings, make_session_factory(engine), harness.inbox_t, [TOPIC], noted(handler), producer)
            loop = asyncio.get_running_loop()

            async def applied() -> bool:
                # Refuse for 2 s from the consumer's first try (old code: dead-lettered by then).
                if pg.refusing and pg.first_refusal is not None and loop.time() - pg.first_refusal >= 2.0:
                    assert pg.refused >= 3, "the consumer met several refusals"
                    pg.open()
                async with harness.sessions() as s:
                    return await s.scalar(select(func.count()).select_from(harness.notes)) == len(events)

            await _run_for(consumer.run, asyncio.Event(), applied, timeout=30)
        finally:
            await producer.stop()
            await engine.dispose()
    assert await harness.consume(harness.settings.topic(TOPIC) + ".dlq", 0, timeout=1) == [], "nothing dead-lettered"


async def test_a_record_near_the_size_limit_is_dead_lettered_truncated_and_the_partition_moves_on(harness: Harness) -> None:
    """A poison record just under the producer's 1 MiB limit: its dead letter (value plus
    `dlq-*` headers) would not fit, so it is dead-lettered truncated, with its coordinates,
    size and reason, and the consumer goes on with the next message."""
    big = b"x" * 1_048_400  # accepted by producer and broker (1 MiB); not an envelope
    after = harness.event("after the big one")
    await _produce(harness.settings.topic(TOPIC), [big, after.model_dump_json().encode()])

    async def handler(session: AsyncSession, message: Message[Noted]) -> None:
        await session.execute(insert(harness.notes).values(event_id=str(message.event.id), text=message.payload.text))

    await _consume_until_notes(harness, handler, 1)
    dead = await harness.consume(harness.settings.topic(TOPIC) + ".dlq", 1)
    assert len(dead) == 1
    key, value, headers = dead[0]
    assert key == b"same-partition"
    assert 0 < len(value) < len(big) and big.startswith(value)
    assert headers["dlq-truncated"] == b"true"
    assert headers["dlq-size"] == str(len(big)).encode()
    topic, partition, offset = headers["dlq-source"].decode().rsplit("/", 2)
    assert topic == harness.settings.topic(TOPIC) and int(partition) >= 0 and int(offset) == 0
    assert b"not a CloudEvents envelope" in headers["dlq-error"]


async def _outbox_rows(harness: Harness) -> int:
    async with harness.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(harness.outbox_t)) or 0)


async def _stage(harness: Harness, texts: list[str]) -> list[Envelope]:
    events = [harness.event(t, subject=f"k{i % 5}") for i, t in enumerate(texts)]
    async with harness.sessions() as session, session.begin():
        await harness.outbox.stage_many(session, [(TOPIC, e.subject or "", e) for e in events])
    return events


async def test_the_relay_rides_out_database_restarts_without_losing_events(harness: Harness) -> None:
    """The relay's database starts up (57P03), runs, is cut off mid-way and starts up again:
    every staged event is published (at least once) and the outbox ends empty."""
    first = await _stage(harness, [f"a{i}" for i in range(40)])
    async with StartingPostgres() as pg:
        engine = make_engine(_through(harness.settings, pg.port))
        producer = make_producer(harness.settings)
        await producer.start()
        stop = asyncio.Event()
        task = asyncio.create_task(OutboxRelay(engine, harness.outbox_t, producer, harness.settings).run(stop))
        try:
            await _until(lambda: pg.refused >= 3, "the relay met the refusals")
            pg.open()
            await _until(lambda: _outbox_rows(harness), "first wave published", expect=0)
            pg.restart()  # connections cut, then 57P03 again
            second = await _stage(harness, [f"b{i}" for i in range(40)])
            refused_before = pg.refused
            await _until(lambda: pg.refused >= refused_before + 2, "the relay met the restart")
            assert await _outbox_rows(harness) == 40, "nothing deleted while the database was away"
            pg.open()
            await _until(lambda: _outbox_rows(harness), "second wave published", expect=0)
            assert not task.done()
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
            await producer.stop()
            await engine.dispose()
    got = await harness.consume(harness.settings.topic(TOPIC), 80)
    ids = [json.loads(v)["id"] for _, v, _ in got]
    assert set(ids) == {str(e.id) for e in first + second}, "every event published"


class FlakyBroker:
    """The real producer, except that the first `failures` sends fail as if the broker had
    gone (while it is away every record in flight fails: whole rounds of the relay)."""

    def __init__(self, producer: AIOKafkaProducer, failures: int) -> None:
        self._producer = producer
        self.failures = failures

    async def send(self, *args: object, **kwargs: object) -> "asyncio.Future[object]":
        if self.failures:
            self.failures -= 1
            future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            future.set_exception(KafkaTimeoutError("batch expired: no broker"))
            return future
        return await self._producer.send(*args, **kwargs)  # type: ignore[no-any-return]


async def test_the_relay_keeps_events_until_the_broker_takes_them(harness: Harness) -> None:
    """Nothing is deleted from the outbox before the broker acknowledged it; the relay tries
    again (with backoff) until it does."""
    events = await _stage(harness, [f"c{i}" for i in range(30)])
    producer = make_producer(harness.settings)
    await producer.start()
    flaky = FlakyBroker(producer, failures=60)  # the relay's first two tries
    try:
        relay = OutboxRelay(harness.engine, harness.outbox_t, flaky, harness.settings)

        async def drained() -> bool:
            return await _outbox_rows(harness) == 0

        await _run_for(relay.run, asyncio.Event(), drained)
    finally:
        await producer.stop()
    assert flaky.failures == 0
    got = await harness.consume(harness.settings.topic(TOPIC), 30)
    ids = [json.loads(v)["id"] for _, v, _ in got]
    assert set(ids) == {str(e.id) for e in events}, "none lost"
    per_key: dict[bytes | None, list[int]] = {}
    for key, value, _ in got:
        per_key.setdefault(key, []).append(int(json.loads(value)["data"]["text"][1:]))
    assert all(texts == sorted(texts) for texts in per_key.values()), "order per key kept"


async def _until(check, what: str, expect: object = True, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value == expect:
            return
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting: {what}"
        await asyncio.sleep(0.05)


# --- The dead-letter command -----------------------------------------------------------------


async def test_a_dead_letter_is_replayed_to_its_source_once_after_the_fix(harness: Harness) -> None:
    """A poison message is dead-lettered; after the fix `dlq replay --all` puts the original
    bytes back on the source topic (and the consumer applies them); a second replay sends
    nothing; a truncated dead letter and another group's are never sent."""
    source = harness.settings.topic(TOPIC)
    poison = harness.event("explodes until fixed")
    raw = poison.model_dump_json().encode()
    await _produce(source, [raw])
    fixed = False

    async def handler(session: AsyncSession, message: Message[Noted]) -> None:
        if not fixed:
            raise RuntimeError("handler bug")
        await session.execute(insert(harness.notes).values(event_id=str(message.event.id), text=message.payload.text))

    producer = make_producer(harness.settings)
    await producer.start()
    try:
        consumer = EventConsumer(harness.settings, harness.sessions, harness.inbox_t, [TOPIC], noted(handler), producer)
        dead: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []

        async def dead_lettered() -> bool:
            dead[:] = await harness.consume(source + ".dlq", 1, timeout=0.5)
            return len(dead) == 1

        await _run_for(consumer.run, asyncio.Event(), dead_lettered)
        # Beside it in the dead-letter topic: a truncated one, one of another service, one
        # whose dlq-source names another topic (replay only ever sends back where it came from).
        for extra in (
            [
                ("dlq-source", f"{source}/0/99".encode()),
                ("dlq-consumer", harness.settings.consumer_group.encode()),
                ("dlq-truncated", b"true"),
            ],
            [("dlq-source", f"{source}/0/98".encode()), ("dlq-consumer", b"another-svc")],
            [("dlq-source", b"crm.elsewhere.v1/0/1"), ("dlq-consumer", harness.settings.consumer_group.encode())],
        ):
            await producer.send_and_wait(source + ".dlq", b"{}", key=b"k", headers=extra, partition=1)
    finally:
        await producer.stop()

    lines: list[str] = []
    assert await dlq.list_dead_letters(harness.settings, [TOPIC], out=lines.append) == 4
    assert any("handler bug" in line and "waiting" in line for line in lines), lines
    [coordinates] = [line.split()[0] for line in lines if "handler bug" in line]
    shown: list[str] = []
    assert await dlq.show(harness.settings, coordinates, out=shown.append)
    assert "header       dlq-error: RuntimeError: handler bug" in shown and "explodes until fixed" in "\n".join(shown)

    dry = await dlq.replay(harness.settings, TOPIC, dry_run=True, out=lines.append)
    assert (dry.sent, dry.refused, dry.others) == (1, 2, 1), "the truncated one and the one naming another topic refused"
    assert len(await harness.consume(source, 2, timeout=1)) == 1, "a dry run sends nothing"

    fixed = True
    done = await dlq.replay(harness.settings, TOPIC, out=lines.append)
    assert (done.sent, done.refused, done.others) == (1, 2, 1)
    on_source = await harness.consume(source, 2)
    assert len(on_source) == 2
    key, value, headers = on_source[1]
    assert value == raw and key == b"same-partition", "the original bytes and key"
    assert headers["dlq-replayed-from"].decode().startswith(source + ".dlq/")
    assert not {h for h in headers if h.startswith("dlq-") and h != "dlq-replayed-from"}

    again = await dlq.replay(harness.settings, source + ".dlq", out=lines.append)
    assert (again.sent, again.refused, again.others) == (0, 0, 0), "remembered: nothing twice"
    assert len(await harness.consume(source, 3, timeout=1)) == 2

    await _consume_until_notes(harness, handler, 1)


async def test_a_range_replay_is_remembered_too(harness: Harness) -> None:
    source = harness.settings.topic(TOPIC)
    producer = make_producer(harness.settings)
    await producer.start()
    try:
        for i in range(4):
            headers = [("dlq-source", f"{source}/1/{i}".encode()), ("dlq-consumer", harness.settings.consumer_group.encode())]
            await producer.send_and_wait(source + ".dlq", f'{{"n": {i}}}'.encode(), key=b"k", headers=headers, partition=0)
    finally:
        await producer.stop()
    out: list[str] = []
    assert (await dlq.replay(harness.settings, TOPIC, offsets=(1, 2), partition=0, out=out.append)).sent == 2
    assert (await dlq.replay(harness.settings, TOPIC, offsets=(0, 3), partition=0, out=out.append)).sent == 2, "0 and 3 only"
    assert (await dlq.replay(harness.settings, TOPIC, out=out.append)).sent == 0
    got = await harness.consume(source, 4)
    assert sorted(json.loads(v)["n"] for _, v, _ in got) == [0, 1, 2, 3]
