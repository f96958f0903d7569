"""Kafka consumer with inbox de-duplication, bounded retries and a dead-letter topic.

Delivery guarantee:
- At least once. Offsets are committed only after the database transaction that applied
  the messages has committed; a crash or a rebalance redelivers what was not committed.
- Effectively once. The inbox row written in that same transaction makes a redelivered
  event a no-op.
- Order. The partitions of one poll are applied in one transaction, each partition's
  messages in order; if it fails, each partition is applied concurrently in a transaction of
  its own, and if that fails because of the messages, they are applied one at a time so a
  single poison message cannot hold the others back.
- An outage is not the message's fault. When the database or the broker says "not now"
  (connection refused or reset, 57P01/57P03, class 08, timeouts: `crm_runtime.db.is_outage`)
  the batch or message is tried again with capped exponential backoff and jitter for as
  long as the outage lasts; it never uses up a message's attempts and a batch is not split
  up for it. A deadlock or serialization failure is retried too, up to `TRANSIENT_RETRIES`
  times, without counting.
- Handlers are registered by payload class (`crm_runtime.registry`): each message's envelope
  and payload are parsed once, before its transaction opens, and an invalid payload is a
  `PoisonMessage` from the start. Events of types nobody registered are skipped (forward
  compatible: a newer producer may add types).
- Only a message's own failures count: after `consumer_max_retries` failed attempts it goes
  to `<topic>.dlq` with the error. A `PoisonMessage` (unparseable or not an envelope, an
  invalid payload, a value no store can keep, an event for another workspace) goes there at
  once.
- The store rule (`crm_contracts.text.storable_problems`: no NUL or unpaired surrogate in
  text, no whole number beyond 64 bits, no non-finite float) is checked here for every event
  a handler takes, before any handler builds a statement from it; the envelope's own shape
  (a workspace of 1..100 storable characters) is part of parsing it.
- Dead-lettering never stops the consumer. A dead letter too large for the broker is sent
  truncated (`crm_runtime.dlq` describes its headers); while the broker is unavailable it is
  retried; if the broker refuses it for any other reason the failure is logged and the
  consumer moves on (the message stays in its source topic until retention).
- Logs name messages by coordinates (topic/partition@offset) and carry the event's
  correlation id (`crm_runtime.logs.correlation_id`), never message values.
- Stopping mid-way leaves the unfinished partitions uncommitted: they are redelivered.
- An offset commit still pending after `COMMIT_TIMEOUT_S` (the client lost its coordinator
  for good, seen once after a broker kill) ends the client with `CommitStalled`; the service's
  supervisor starts a new one, which is redelivered what was not committed.
"""

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Container, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from itertools import groupby
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError
from sqlalchemy import String, Table, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.envelope import Envelope
from crm_contracts.text import OUT_OF_RANGE_MESSAGE, UNSTORABLE_MESSAGE, field_path, storable_problems
from crm_runtime import dlq
from crm_runtime.backoff import backoff, sleep_or_stop
from crm_runtime.db import is_outage, is_transient
from crm_runtime.kafka import connection
from crm_runtime.logs import correlation_id
from crm_runtime.registry import Message, Registry, Route
from crm_runtime.settings import ServiceSettings
from crm_runtime.telemetry import consuming

log = logging.getLogger(__name__)

TRANSIENT_RETRIES = 10


PROCESSED = Counter("crm_consumer_messages_total", "Messages handled", ["topic", "outcome"])
OUTCOMES = ("ok", "dead_lettered", "dead_letter_failed")  # each exported from the start (at 0), so the first dead letter is an increase
LAG = Gauge("crm_consumer_lag", "Messages behind the partition end", ["topic", "partition"])
OUTAGE_RETRIES = Counter("crm_consumer_outage_retries_total", "Tries put off because a dependency was unavailable", ["topic"])
# Per stage: how long after its creation (the envelope's `time`, set by the producing service)
# an event was applied here, observed once its transaction committed. Its _count is the rate per
# event type. Clocks of different hosts may disagree a little; a negative age counts as 0.
EVENT_AGE = Histogram(
    "crm_consumer_event_age_seconds",
    "Seconds from an event's creation to its commit by this consumer",
    ["topic", "type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
LAG_REFRESH_S = 1.0  # the lag of every assigned partition is refreshed this often, idle ones included


# An offset commit takes milliseconds; one still pending after this means the client has lost
# its group coordinator for good (the supervisor then starts a fresh client: the inbox makes
# the redelivery of what was not committed harmless).
COMMIT_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0  # a wedged client may not stop cleanly either: abandon it after this


class CommitStalled(TimeoutError):
    """The consumer client stopped making progress on a commit: restart it (an outage, not a bug)."""


class PoisonMessage(Exception):
    """The message can never be applied: dead-letter it now, without retrying.

    Handlers raise it for whatever no retry can fix (an invalid payload, an event whose
    workspace is not the record's). Its text is `<what>: <detail>` (e.g. `workspace
    mismatch: ...`); the whole text becomes the dead letter's `dlq-error` header, while logs
    show only `<what>` (the detail may quote the message)."""


def same_workspace(event: Envelope, record_workspace: str) -> None:
    """DESIGN 5.3: a consumer never applies an event to a record of another workspace; the
    reason names both workspaces (never the record)."""
    if record_workspace != event.workspace:
        raise PoisonMessage(f"workspace mismatch: event workspace {event.workspace}, record workspace {record_workspace}")


def describe(exc: BaseException) -> str:
    """An error for a log line: its class and SQLSTATE, never values or SQL parameters."""
    if isinstance(exc, PoisonMessage):
        return f"PoisonMessage({str(exc).partition(':')[0]})"
    inner: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    state = getattr(inner, "sqlstate", None)
    name = type(inner.__cause__ or inner).__name__  # SQLAlchemy's asyncpg adapter keeps asyncpg's error as the cause
    return f"{name} (SQLSTATE {state})" if isinstance(state, str) else name


def reason(exc: BaseException) -> str:
    """An error for the dead letter's `dlq-error` header (the SQL and its parameters left out)."""
    if isinstance(exc, PoisonMessage):
        return str(exc)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{describe(exc)}: {str(exc.orig).splitlines()[0] if str(exc.orig) else ''}"
    return f"{type(exc).__name__}: {exc}"


def _validation_errors(exc: ValidationError) -> str:
    """Field paths and messages of a pydantic error, without the offending values."""
    return "; ".join(f"{field_path(e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors(include_url=False, include_input=False))


# What may spell a value no store can keep; only then is the event walked. JSON escapes of a
# NUL or half a surrogate pair; a run of 19 digits (a whole number beyond 64 bits has at least
# that many, and a float too large to be finite has many digits or a 3-digit exponent: matched as
# a number token after `:`, `,` or `[`, since ids are hex and `4e123` is in many a UUID); the tokens
# the parser reads as non-finite floats. Text that merely looks like one costs a walk, nothing more.
_MAYBE_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|[0-9]{19}|[:,\[]\s*-?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]{3}|NaN|Infinity")
_UNSTORABLE_KIND = {UNSTORABLE_MESSAGE: "unstorable text", OUT_OF_RANGE_MESSAGE: "unstorable number"}
_NAMED_AT_MOST = 10


def _unstorable_reason(problems: list[tuple[str, str]]) -> str:
    """`unstorable text: data.a, data.b contains ...; unstorable number: data.n is a number ...`."""
    fields: dict[str, list[str]] = {}
    for field, message in problems:
        fields.setdefault(message, []).append(field)
    parts = []
    for message, named in fields.items():
        more = f" (and {len(named) - _NAMED_AT_MOST} more)" if len(named) > _NAMED_AT_MOST else ""
        parts.append(f"{_UNSTORABLE_KIND.get(message, 'unstorable value')}: {', '.join(named[:_NAMED_AT_MOST])}{more} {message}")
    return "; ".join(parts)


def parse_event(raw: bytes, handled: Container[str]) -> Envelope:
    """The envelope a record's value holds, or PoisonMessage: not an envelope (its workspace
    included), or an event of a `handled` type holding a value no store can keep (the store
    rule, field paths named, never values). Other types pass unchecked: nobody applies them,
    unless the value is no envelope at all because of such a value (a lone surrogate)."""
    try:
        event = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()) and _MAYBE_UNSTORABLE.search(raw):
            # The parser refuses a lone surrogate escape as invalid JSON; the standard library
            # reads it, so the reason can name the field instead of a character position.
            try:
                problems = storable_problems(json.loads(raw))
            except ValueError:
                problems = []
            if problems:
                raise PoisonMessage(_unstorable_reason(problems)) from exc
        raise PoisonMessage(f"not a CloudEvents envelope: {_validation_errors(exc)}") from exc
    if event.type in handled and _MAYBE_UNSTORABLE.search(raw):
        # No store of ours can keep it: no retry would ever apply this event.
        problems = storable_problems(event.model_dump(mode="python"))
        if problems:
            raise PoisonMessage(_unstorable_reason(problems))
    return event


@contextmanager
def _correlated(events: Sequence[Envelope]) -> Iterator[None]:
    """Log lines carry the events' correlation id (the event id when none) while handled."""
    ids = {e.correlationid or str(e.id) for e in events}
    token = correlation_id.set(ids.pop() if len(ids) == 1 else None)
    try:
        yield
    finally:
        correlation_id.reset(token)


async def _abandon_after(work: Coroutine[Any, Any, object], timeout_s: float, what: str) -> None:
    """Await `work` for at most `timeout_s`, then raise TimeoutError and leave it behind.

    `asyncio.wait_for` cancels on timeout and then waits for the cancellation to finish; a client
    that lost its broker may retry through a cancellation for good (seen after a broker kill under
    load: the old client's commit, then its `stop`, never returned, and the consumer never came
    back). A wedged client is cancelled once and abandoned instead."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if task in done and not task.cancelled():
        task.result()
        return
    if task in done:  # the client cancelled its own work (it lost its broker): as good as wedged
        log.warning("%s: the client gave it up", what)
        raise TimeoutError(what)
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # its late end is nobody's news
    log.warning("%s within %.0f s; abandoning it", what, timeout_s)
    raise TimeoutError(what)


class EventConsumer:
    def __init__(
        self,
        settings: ServiceSettings,
        session_factory: async_sessionmaker[AsyncSession],
        inbox: Table,
        topics: Sequence[str],
        handlers: Registry,
        producer: AIOKafkaProducer,
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._inbox = inbox
        self._topics = [settings.topic(t) for t in topics]
        self._routes: dict[str, Route] = {route.event_type: route for route in handlers.routes()}
        self._claim_statement = text(
            f"INSERT INTO {inbox.name} (event_id, event_type) SELECT * FROM unnest(:ids, :types)"  # noqa: S608 - a table name of ours
            " ON CONFLICT DO NOTHING RETURNING event_id"
        ).bindparams(bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True))), bindparam("types", type_=ARRAY(String())))
        self._producer = producer
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        self._consumed: dict[TopicPartition, int] = {}  # next offset per partition, for the lag gauge
        for topic in self._topics:
            for outcome in OUTCOMES:
                PROCESSED.labels(topic, outcome)

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        consumer = AIOKafkaConsumer(
            *self._topics,
            **connection(self._settings),
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
        last_commit = last_lag = asyncio.get_running_loop().time()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self._settings.consumer_batch_size)
                if batches:
                    done = await self._process_poll(list(batches.values()))
                    pending.update({tp: msgs[-1].offset + 1 for (tp, msgs), ok in zip(batches.items(), done, strict=True) if ok})
                    self._record_lag(consumer, batches)
                # Offsets are committed at intervals: a redelivery after a crash is a no-op
                # thanks to the inbox, and a commit per poll would cost a broker round trip.
                now = asyncio.get_running_loop().time()
                if pending and now - last_commit >= self._settings.consumer_commit_interval_ms / 1000:
                    await self._commit(consumer, pending)
                    pending, last_commit = {}, now
                if now - last_lag >= LAG_REFRESH_S:
                    self._refresh_lag(consumer)
                    last_lag = now
        except CommitStalled:
            pending = {}  # this client cannot commit: the next one is redelivered the rest
            raise
        finally:
            self.ready.clear()
            self._forget_lag(set())
            try:
                await self._commit(consumer, pending)
            finally:
                with suppress(TimeoutError):  # logged; the next client starts afresh
                    await _abandon_after(consumer.stop(), STOP_TIMEOUT_S, "consumer client did not stop")

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            await _abandon_after(consumer.commit(offsets), COMMIT_TIMEOUT_S, "offset commit did not finish")
        except TimeoutError:
            # Seen once after the broker was killed mid-commit: the client never found its
            # coordinator again and the loop waited here for good. Start a new client instead.
            raise CommitStalled(f"an offset commit did not finish within {COMMIT_TIMEOUT_S:.0f} s") from None
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions away (or the broker is away); whoever owns them
            # next redelivers and the inbox turns the repeats into no-ops.
            log.warning("offset commit failed (%s); messages will be redelivered", type(exc).__name__)

    def _record_lag(self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for tp, msgs in batches.items():
            self._consumed[tp] = msgs[-1].offset + 1
            high = consumer.highwater(tp)
            if high is not None:
                LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - msgs[-1].offset - 1))

    def _refresh_lag(self, consumer: AIOKafkaConsumer) -> None:
        """The lag of every partition this client holds and has read from, idle ones included
        (the broker reports each partition's end with every fetch); the gauges of partitions a
        rebalance took away are removed, so no stale lag stays behind on this instance."""
        assigned = consumer.assignment()
        self._forget_lag(assigned)
        for tp, position in self._consumed.items():
            high = consumer.highwater(tp)
            if high is not None:
                LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - position))

    def _forget_lag(self, keep: Container[TopicPartition]) -> None:
        for tp in [tp for tp in self._consumed if tp not in keep]:
            del self._consumed[tp]
            with suppress(KeyError):
                LAG.remove(tp.topic, str(tp.partition))

    @staticmethod
    def _observe_age(topic: str, applied: Sequence[Message[Any]]) -> None:
        """One observation per applied event; the histogram child is looked up once per run of a type."""
        now = time.time()
        for event_type, run in groupby(applied, key=lambda m: m.event.type):
            child = EVENT_AGE.labels(topic, event_type)
            for message in run:
                child.observe(max(0.0, now - message.event.time.timestamp()))

    async def _wait_out(self, topic: str, exc: BaseException, tries: int) -> bool:
        """Pause while a dependency is unavailable; False when stopping instead."""
        OUTAGE_RETRIES.labels(topic).inc()
        delay = backoff(tries)
        log.warning("%s unavailable (%s); trying again in %.1f s", topic, describe(exc), delay)
        return not await sleep_or_stop(self._stop, delay)

    async def _process_poll(self, parts: list[list[ConsumerRecord[bytes, bytes]]]) -> list[bool]:
        """Apply a poll's partition batches; for each, False when stopping left some unapplied.

        Several partitions go first in ONE transaction, one partition's messages after another's
        (each in its order): at a modest rate a poll holds a message or two per partition, and a
        transaction per partition cost more than the work. If that fails for any reason, each
        partition is applied on its own as below (an outage is waited out there)."""
        if len(parts) > 1:
            try:
                applied = await self._apply_batch(parts)
            except Exception as exc:  # noqa: BLE001 - every partition is tried again on its own
                log.info("batch of %d partitions failed together (%s); applying each on its own", len(parts), describe(exc))
            else:
                for msgs, done in zip(parts, applied, strict=True):
                    PROCESSED.labels(msgs[0].topic, "ok").inc(len(msgs))
                    self._observe_age(msgs[0].topic, done)
                return [True] * len(parts)
        return list(await asyncio.gather(*(self._process_partition(msgs) for msgs in parts)))

    async def _process_partition(self, msgs: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """Apply `msgs` in order; False when stopping left some of them unapplied."""
        outages = 0
        while True:
            try:
                (applied,) = await self._apply_batch([msgs])
                PROCESSED.labels(msgs[0].topic, "ok").inc(len(msgs))  # a partition batch is of one topic
                self._observe_age(msgs[0].topic, applied)
                return True
            except Exception as exc:  # noqa: BLE001 - an outage waits, anything else goes one at a time
                if isinstance(exc, PoisonMessage) or not is_outage(exc):
                    log.info(
                        "batch of %d on %s/%d failed (%s); applying one at a time",
                        len(msgs),
                        msgs[0].topic,
                        msgs[0].partition,
                        describe(exc),
                    )
                    break
                if not await self._wait_out(msgs[0].topic, exc, outages):
                    return False
                outages += 1
        for msg in msgs:
            if not await self._process_one(msg):
                return False
        return True

    async def _apply_batch(self, parts: Sequence[list[ConsumerRecord[bytes, bytes]]]) -> list[list[Message[Any]]]:
        """Apply partition batches in one transaction, one after another; returns each one's
        messages applied (not repeats, not types this service ignores)."""
        parsed = [[self._parse(msg) for msg in msgs] for msgs in parts]  # before the transaction: no CPU work holds it open
        async with self._sessions() as session, session.begin():
            fresh = await self._claim(session, [m.event for part in parsed for m in part if m.event.type in self._routes])
            todo: list[list[Message[Any]]] = []
            for part in parsed:
                todo.append([])
                for message in part:
                    if message.event.id in fresh:
                        fresh.discard(message.event.id)  # a repeat inside the same batch is a no-op too
                        todo[-1].append(message)
            await self._handle(session, [m for part in todo for m in part])
        return todo

    async def _process_one(self, msg: ConsumerRecord[bytes, bytes]) -> bool:
        """Apply one message, retrying as the module says; False when stopping first."""
        try:
            message = self._parse(msg)
        except PoisonMessage as exc:
            return await self._dead_letter(msg, exc)
        with _correlated([message.event]):
            failures = transients = outages = 0
            while True:
                try:
                    async with self._sessions() as session, session.begin():
                        applied = await self._apply(session, message)
                    PROCESSED.labels(msg.topic, "ok").inc()
                    if applied:
                        self._observe_age(msg.topic, [message])
                    return True
                except Exception as exc:  # noqa: BLE001 - every failure is classified below
                    if isinstance(exc, PoisonMessage):
                        return await self._dead_letter(msg, exc)
                    if is_outage(exc):
                        if not await self._wait_out(msg.topic, exc, outages):
                            return False
                        outages += 1
                        continue
                    outages = 0
                    if is_transient(exc) and transients < TRANSIENT_RETRIES:
                        transients += 1
                        if await sleep_or_stop(self._stop, random.uniform(0.01, 0.05) * transients):
                            return False
                        continue
                    failures += 1
                    if failures >= self._settings.consumer_max_retries:
                        return await self._dead_letter(msg, exc)
                    log.warning(
                        "attempt %d of %d of %s/%d@%d failed (%s)",
                        failures,
                        self._settings.consumer_max_retries,
                        msg.topic,
                        msg.partition,
                        msg.offset,
                        describe(exc),
                    )
                    if await sleep_or_stop(self._stop, self._settings.consumer_retry_backoff_ms / 1000 * failures):
                        return False

    def _parse(self, msg: ConsumerRecord[bytes, bytes]) -> Message[Any]:
        """The message's envelope and, for a handled type, its payload (the only time either is
        parsed); PoisonMessage for what no handler could ever apply. A type nobody here handles
        keeps no payload (None): it is skipped, never claimed."""
        event = parse_event(msg.value or b"", self._routes)
        route = self._routes.get(event.type)
        if route is None:
            return Message(event, None)
        try:
            return Message(event, route.model.model_validate(event.data))
        except ValidationError as exc:
            raise PoisonMessage(f"invalid {event.type} payload: {_validation_errors(exc)}") from exc

    async def _claim(self, session: AsyncSession, events: list[Envelope]) -> set[UUID]:
        """Record `events` in the inbox; returns the ids not applied before (one statement)."""
        if not events:
            return set()
        unique = {e.id: e.type for e in events}
        # Two arrays: one statement, prepared once, whatever the batch size (an executemany of
        # inserts with RETURNING was a tenth of a consumer's CPU under load).
        claimed = await session.scalars(self._claim_statement, {"ids": list(unique), "types": list(unique.values())})
        return set(claimed)

    def _run_key(self, message: Message[Any]) -> object:
        """What makes consecutive messages one run: their run handler (one registered for several
        payload classes takes their mixed runs whole), else their type."""
        route = self._routes[message.event.type]
        return route.run if route.run is not None else message.event.type

    async def _handle(self, session: AsyncSession, messages: list[Message[Any]]) -> None:
        """Dispatch in order: consecutive messages of one run handler go to it in one call."""
        for _, group in groupby(messages, key=self._run_key):
            run = list(group)
            event_type = run[0].event.type
            route = self._routes[event_type]
            if route.run is not None:
                events = [m.event for m in run]
                with consuming(event_type, events), _correlated(events):
                    await route.run(session, run)
            else:
                assert route.one is not None
                for message in run:
                    with consuming(event_type, [message.event]), _correlated([message.event]):
                        await route.one(session, message)

    async def _apply(self, session: AsyncSession, message: Message[Any]) -> bool:
        """Apply one message; False when it was a repeat or of a type this service ignores."""
        if message.event.type not in self._routes:
            return False  # a type this service does not care about (forward compatible)
        if not await self._claim(session, [message.event]):
            return False
        await self._handle(session, [message])
        return True

    async def _dead_letter(self, msg: ConsumerRecord[bytes, bytes], exc: BaseException) -> bool:
        """Send `msg` to its dead-letter topic; False only when stopping first."""
        letter = dlq.dead_letter(msg, reason(exc), self._settings.consumer_group)
        log.error(
            "dead-lettering %s/%d@%d (%s)%s", msg.topic, msg.partition, msg.offset, describe(exc), " truncated" if letter.truncated else ""
        )
        outages, smaller = 0, False
        while True:
            try:
                await self._producer.send_and_wait(letter.topic, value=letter.value, key=letter.key, headers=letter.headers)
                PROCESSED.labels(msg.topic, "dead_lettered").inc()
                return True
            except Exception as error:  # noqa: BLE001 - never let a dead letter stop the consumer
                if dlq.broker_unavailable(error):
                    if not await self._wait_out(letter.topic, error, outages):
                        return False
                    outages += 1
                    continue
                if dlq.too_large(error) and not smaller:  # the topic takes less than the default: try a small head
                    smaller = True
                    letter = dlq.dead_letter(msg, reason(exc), self._settings.consumer_group, max_bytes=dlq.FALLBACK_RECORD_BYTES)
                    continue
                log.error("could not dead-letter %s/%d@%d (%s); skipping it", msg.topic, msg.partition, msg.offset, describe(error))
                PROCESSED.labels(msg.topic, "dead_letter_failed").inc()
                return True
