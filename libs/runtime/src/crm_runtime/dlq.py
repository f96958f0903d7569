"""Dead letters: how a consumer writes them, and the operator's `dlq` command.

Writing. A consumer that gives up on a message (a `PoisonMessage`, or its own failure after
`consumer_max_retries` attempts) sends it to `<topic>.dlq` with the original key, value and
headers plus:

    dlq-error      why: the PoisonMessage's reason, or the last attempt's error
    dlq-source     `<topic>/<partition>/<offset>` of the original record
    dlq-consumer   the consumer group that gave up on it
    dlq-size       the original value's size in bytes
    dlq-truncated  `true` when the value was cut to fit (see below)

A record near the broker's 1 MiB limit plus these headers would not fit: a dead letter
larger than `MAX_RECORD_BYTES` keeps the head of its value (and the key, coordinates, size
and reason) and is marked `dlq-truncated`; if the broker still refuses it, a 64 KiB head is
tried. A truncated dead letter is evidence, not something to replay.

The command (in every service image, with that service's settings: bootstrap servers,
topic namespace, consumer group):

    python -m <service> dlq list [--topic T] [--limit N]
        the newest N dead letters of each dead-letter topic of the service (or of T):
        coordinates, source, consumer group, size, state and the head of the error
    python -m <service> dlq show <dlq-topic>/<partition>/<offset>
        every header and the whole value. The value may hold personal data: it is printed
        on the operator's terminal, never logged
    python -m <service> dlq replay <topic> (--all | --offset-from A --offset-to B
                                   [--partition P]) [--dry-run]
        sends dead letters back to their source topic after a fix

Topic arguments may name the source topic or its `.dlq` topic, with or without the
namespace. Replay produces the original key, value and headers (without `dlq-*` headers,
plus `dlq-replayed-from: <dlq-topic>/<partition>/<offset>`) to the source topic's original
partition. It sends only the dead letters this service's consumer group wrote (another
service's dead letters in the same topic are that service's to replay: a replay reaches
every group reading the source topic, and groups that applied the event before drop it by
its id); truncated ones, and records whose `dlq-source` is missing or names a topic other
than this dead-letter topic's source, are refused and reported.

Replay remembers what it dealt with, per dead-letter partition, in the consumer group
`<group>.dlq-replay`: the committed offset is a mark below which everything was replayed,
refused or another group's, and the commit's metadata lists offsets above the mark that
explicit ranges replayed (`13-17,20`). `--all` sends what is at or above the mark and not
listed, then moves the mark to the end; a range sends what it covers that was not dealt
with. A second replay therefore sends nothing. The mark is committed only after the broker
acknowledged every replayed record; a replay interrupted half way sends some records again
next time, which is harmless (consumers drop events they already applied: at least once,
as everywhere). A replayed event arrives after the events that followed it on the source
topic. `--dry-run` prints what would be sent and remembers nothing.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from crm_contracts import topics as contract_topics
from crm_runtime.db import is_outage
from crm_runtime.kafka import connection, make_producer
from crm_runtime.settings import ServiceSettings

PREFIX = "dlq-"
ERROR = "dlq-error"
SOURCE = "dlq-source"
CONSUMER = "dlq-consumer"
SIZE = "dlq-size"
TRUNCATED = "dlq-truncated"
REPLAYED_FROM = "dlq-replayed-from"

# Producer and broker both refuse records over 1 MiB by default; a dead letter stays well
# below, leaving room for the batch's own overhead.
MAX_RECORD_BYTES = 1_000_000
FALLBACK_RECORD_BYTES = 64 * 1024  # when the broker refuses even that (a topic with a lower limit)
MAX_REASON_CHARS = 2000
REPLAY_GROUP_SUFFIX = ".dlq-replay"
MAX_LEDGER_METADATA = 4000  # Kafka keeps up to 4096 bytes of metadata with a committed offset

Out = Callable[[str], None]


# --- Writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    truncated: bool


def _size(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> int:
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers))


def dead_letter(record: ConsumerRecord[bytes, bytes], reason: str, consumer_group: str, max_bytes: int = MAX_RECORD_BYTES) -> DeadLetter:
    """The dead letter of `record`: same key, value and headers plus the `dlq-*` headers,
    truncated (and marked so) when it would be larger than `max_bytes`."""
    value = record.value
    kept = [(k, v) for k, v in record.headers or () if not k.startswith(PREFIX) or k == REPLAYED_FROM]
    own = [
        (ERROR, reason[:MAX_REASON_CHARS].encode("utf-8", "replace")),
        (SOURCE, f"{record.topic}/{record.partition}/{record.offset}".encode()),
        (CONSUMER, consumer_group.encode()),
        (SIZE, str(len(value) if value is not None else 0).encode()),
    ]
    topic = contract_topics.dead_letter(record.topic)
    key: bytes | None = record.key
    if _size(key, value, kept + own) <= max_bytes:
        return DeadLetter(topic, key, value, kept + own, truncated=False)
    own.append((TRUNCATED, b"true"))
    headers = kept + own
    if _size(key, b"", headers) > max_bytes // 2:  # the original headers are the bulk: keep ours only
        headers = own
    if _size(key, b"", headers) > max_bytes // 2:  # so is the key
        key = (key or b"")[:1024]
    room = max_bytes - _size(key, b"", headers) - 16  # 16: the value's length prefix grows
    return DeadLetter(topic, key, (value or b"")[: max(0, room)], headers, truncated=True)


def broker_unavailable(exc: BaseException) -> bool:
    """The broker cannot take a record now (gone, no leader, timed out): wait and retry."""
    if isinstance(exc, KafkaError) and (exc.retriable or isinstance(exc, KafkaConnectionError | KafkaTimeoutError)):
        return True
    return is_outage(exc)


def too_large(exc: BaseException) -> bool:
    return isinstance(exc, MessageSizeTooLargeError | RecordListTooLargeError | RecordTooLargeError)


# --- Reading ------------------------------------------------------------------------------


def dlq_topic(settings: ServiceSettings, name: str) -> str:
    """`crm.x.v1`, `crm.x.v1.dlq`, with or without the namespace → the namespaced DLQ topic."""
    if settings.topic_namespace and not name.startswith(settings.topic_namespace):
        name = settings.topic(name)
    return name if name.endswith(contract_topics.DLQ_SUFFIX) else contract_topics.dead_letter(name)


def _headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, bytes]:
    return dict(record.headers or ())


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", "backslashreplace")


class _Reader:
    """A group-less consumer that reads given offsets of given partitions, and an admin client."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._consumer = AIOKafkaConsumer(
            **connection(settings),
            client_id=f"{settings.service_name}-dlq",
            group_id=None,
            enable_auto_commit=False,
        )
        self.admin = AIOKafkaAdminClient(**connection(settings), client_id=f"{settings.service_name}-dlq")

    async def __aenter__(self) -> "_Reader":
        await self.admin.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self.admin.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._consumer.stop()
        finally:
            await self.admin.close()

    async def partitions(self, topic: str) -> list[TopicPartition]:
        """The partitions of `topic`, none when it does not exist."""
        if topic not in await self.admin.list_topics():
            return []
        [described] = await self.admin.describe_topics([topic])
        return [TopicPartition(topic, p["partition"]) for p in sorted(described["partitions"], key=lambda p: int(p["partition"]))]

    async def bounds(self, tps: list[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """(first, end) offsets of each partition as of now."""
        if not tps:
            return {}
        first = await self._consumer.beginning_offsets(tps)
        end = await self._consumer.end_offsets(tps)
        return {tp: (int(first[tp]), int(end[tp])) for tp in tps}

    async def records(self, tp: TopicPartition, start: int, end: int) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
        """Records of `tp` with offsets in [start, end)."""
        if start >= end:
            return
        self._consumer.assign([tp])
        self._consumer.seek(tp, start)
        idle = 0
        while await self._consumer.position(tp) < end:
            batch = (await self._consumer.getmany(tp, timeout_ms=1000)).get(tp, [])
            idle = 0 if batch else idle + 1
            if idle > 15:
                raise TimeoutError(f"{tp.topic}/{tp.partition}: no records between {start} and {end}")
            for record in batch:
                if record.offset >= end:
                    return
                yield record


# --- What replay dealt with ---------------------------------------------------------------


@dataclass
class Ledger:
    """Per DLQ partition: offsets below `mark` and those in `extra` were dealt with."""

    mark: int
    extra: set[int] = field(default_factory=set)

    @classmethod
    def parse(cls, mark: int, metadata: str) -> "Ledger":
        extra: set[int] = set()
        for part in filter(None, metadata.split(",")):
            low, _, high = part.partition("-")
            extra.update(range(int(low), int(high or low) + 1))
        ledger = cls(mark, extra)
        ledger._normalise()
        return ledger

    def done(self, offset: int) -> bool:
        return offset < self.mark or offset in self.extra

    def add(self, offsets: Iterable[int]) -> None:
        self.extra.update(offsets)
        self._normalise()

    def close_up_to(self, end: int) -> None:
        """Everything below `end` was dealt with."""
        self.mark = max(self.mark, end)
        self._normalise()

    def metadata(self) -> str:
        runs: list[str] = []
        start = prev = None
        for offset in sorted(self.extra):
            if prev is not None and offset == prev + 1:
                prev = offset
                continue
            if start is not None:
                runs.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = offset
        if start is not None:
            runs.append(f"{start}-{prev}" if prev != start else str(start))
        text = ",".join(runs)
        if len(text) > MAX_LEDGER_METADATA:
            raise ValueError("too many scattered replays to remember; replay the rest with --all")
        return text

    def _normalise(self) -> None:
        while self.mark in self.extra:
            self.extra.discard(self.mark)
            self.mark += 1
        self.extra = {o for o in self.extra if o >= self.mark}


def replay_group(settings: ServiceSettings) -> str:
    return settings.consumer_group + REPLAY_GROUP_SUFFIX


async def _ledgers(reader: _Reader, bounds: dict[TopicPartition, tuple[int, int]]) -> dict[TopicPartition, Ledger]:
    committed = await reader.admin.list_consumer_group_offsets(replay_group(reader.settings), partitions=list(bounds))
    ledgers = {}
    for tp, (first, _) in bounds.items():
        entry = committed.get(tp)
        if entry is None or entry.offset < 0:
            ledgers[tp] = Ledger(first)
        else:
            ledgers[tp] = Ledger.parse(max(first, entry.offset), entry.metadata or "")
    return ledgers


async def _remember(settings: ServiceSettings, ledgers: dict[TopicPartition, Ledger]) -> None:
    offsets = {tp: (ledger.mark, ledger.metadata()) for tp, ledger in ledgers.items()}
    consumer = AIOKafkaConsumer(
        **connection(settings),
        client_id=f"{settings.service_name}-dlq",
        group_id=replay_group(settings),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        consumer.pause(*offsets)  # commits only: nothing to fetch
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


# --- The commands -------------------------------------------------------------------------


def _state(record: ConsumerRecord[bytes, bytes], ledger: Ledger | None) -> str:
    headers = _headers(record)
    flags = []
    if TRUNCATED in headers:
        flags.append("truncated")
    if ledger is not None and ledger.done(record.offset):
        flags.append("dealt-with")
    return ",".join(flags) or "waiting"


async def list_dead_letters(
    settings: ServiceSettings, topics: Sequence[str], *, topic: str | None = None, limit: int = 50, out: Out = print
) -> int:
    """Print the newest `limit` dead letters of each DLQ topic; returns how many were printed."""
    names = [dlq_topic(settings, topic)] if topic else sorted({dlq_topic(settings, t) for t in topics})
    shown = 0
    async with _Reader(settings) as reader:
        for name in names:
            bounds = await reader.bounds(await reader.partitions(name))
            total = sum(end - first for first, end in bounds.values())
            if not total:
                out(f"{name}: no dead letters" if bounds else f"{name}: no such topic")
                continue
            ledgers = await _ledgers(reader, bounds)
            records: list[ConsumerRecord[bytes, bytes]] = []
            for tp, (first, end) in bounds.items():
                records += [r async for r in reader.records(tp, max(first, end - limit), end)]
            records = sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset))[-limit:]
            out(f"{name}: {total} dead letter(s), showing {len(records)}")
            for r in records:
                h = _headers(r)
                error = _text(h.get(ERROR)).replace("\n", " ")[:120]
                out(
                    f"  {r.topic}/{r.partition}/{r.offset}  {_when(r.timestamp)}  source={_text(h.get(SOURCE))}"
                    f"  consumer={_text(h.get(CONSUMER))}  size={_text(h.get(SIZE)) or len(r.value or b'')}"
                    f"  {_state(r, ledgers.get(TopicPartition(r.topic, r.partition)))}  error={error}"
                )
            shown += len(records)
    return shown


def _when(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="seconds")


def _coordinates(text: str) -> tuple[str, int, int]:
    topic, _, rest = text.rpartition("/")
    topic, _, partition = topic.rpartition("/")
    if not topic or not partition.isdigit() or not rest.isdigit():
        raise ValueError(f"expected <topic>/<partition>/<offset>, got {text!r}")
    return topic, int(partition), int(rest)


async def show(settings: ServiceSettings, coordinates: str, *, out: Out = print) -> bool:
    """Print one dead letter's headers and value; False when there is none at `coordinates`."""
    name, partition, offset = _coordinates(coordinates)
    tp = TopicPartition(dlq_topic(settings, name), partition)
    async with _Reader(settings) as reader:
        if tp not in await reader.partitions(tp.topic):
            out(f"{tp.topic}/{partition}: no such partition")
            return False
        first, end = (await reader.bounds([tp]))[tp]
        found = [r async for r in reader.records(tp, offset, offset + 1)] if first <= offset < end else []
        if not found:
            held = f"it holds offsets {first} to {end - 1}" if end > first else "it is empty"
            out(f"{tp.topic}/{partition}/{offset}: no such record ({held})")
            return False
        ledger = (await _ledgers(reader, {tp: (first, end)}))[tp]
    record = found[0]
    out(f"dead letter  {tp.topic}/{partition}/{offset}  {_when(record.timestamp)}  {_state(record, ledger)}")
    out(f"key          {_text(record.key)}")
    for k, v in record.headers or ():
        out(f"header       {k}: {_text(v)}")
    out(f"value        {len(record.value or b'')} bytes")
    out(_pretty(record.value))
    return True


def _pretty(value: bytes | None) -> str:
    try:
        return orjson.dumps(orjson.loads(value or b""), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return _text(value)


@dataclass
class Replayed:
    sent: int = 0
    refused: int = 0
    others: int = 0  # another consumer group's dead letters, left to that service


def _replayable(record: ConsumerRecord[bytes, bytes], group: str) -> tuple[str, int] | str:
    """(source topic, partition) to replay `record` to, or why not."""
    headers = _headers(record)
    if _text(headers.get(CONSUMER)) != group:
        return "another consumer group's"
    if TRUNCATED in headers:
        return "truncated: the original value is not kept whole"
    try:
        topic, partition, _ = _coordinates(_text(headers.get(SOURCE)))
    except ValueError:
        return "no usable dlq-source header"
    if contract_topics.dead_letter(topic) != record.topic:
        return f"its dlq-source names {topic!r}, not this topic's source"  # only ever back where it came from
    return topic, partition


async def replay(
    settings: ServiceSettings,
    topic: str,
    *,
    offsets: tuple[int, int] | None = None,
    partition: int | None = None,
    dry_run: bool = False,
    out: Out = print,
) -> Replayed:
    """Send dead letters back to their source topic: every one not dealt with (`offsets`
    None), or those in the inclusive range `offsets` (of `partition`, or of every partition)."""
    name = dlq_topic(settings, topic)
    group = settings.consumer_group
    result = Replayed()
    async with _Reader(settings) as reader:
        tps = [tp for tp in await reader.partitions(name) if partition is None or tp.partition == partition]
        if not tps:
            out(f"{name}: no such topic or partition")
            return result
        bounds = await reader.bounds(tps)
        ledgers = await _ledgers(reader, bounds)
        todo: list[tuple[ConsumerRecord[bytes, bytes], str, int]] = []
        seen: dict[TopicPartition, list[int]] = {tp: [] for tp in tps}
        for tp, (first, end) in bounds.items():
            ledger = ledgers[tp]
            start, stop = (ledger.mark, end) if offsets is None else (max(first, offsets[0]), min(end, offsets[1] + 1))
            async for record in reader.records(tp, start, stop):
                if ledger.done(record.offset):
                    continue
                seen[tp].append(record.offset)
                where = _replayable(record, group)
                if isinstance(where, str):
                    if where.startswith("another"):
                        result.others += 1
                    else:
                        result.refused += 1
                        out(f"refused   {name}/{tp.partition}/{record.offset}: {where}")
                    continue
                todo.append((record, *where))
    for record, source, _ in todo:
        out(f"{'would send' if dry_run else 'sending'}  {name}/{record.partition}/{record.offset} -> {source}")
    if dry_run:
        result.sent = len(todo)
        out(f"dry run: {len(todo)} to send, {result.refused} refused, {result.others} of other consumer groups; nothing sent")
        return result
    if todo:
        await _send(settings, name, todo)
    for tp, ledger in ledgers.items():
        if offsets is None:
            ledger.close_up_to(bounds[tp][1])
        else:
            ledger.add(seen[tp])
    await _remember(settings, ledgers)
    result.sent = len(todo)
    out(f"sent {result.sent}, refused {result.refused}, left {result.others} to other consumer groups")
    return result


async def _send(settings: ServiceSettings, name: str, todo: list[tuple[ConsumerRecord[bytes, bytes], str, int]]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        futures: list[Any] = []
        for record, source, source_partition in todo:
            partitions = await producer.partitions_for(source)
            headers = [(k, v) for k, v in record.headers or () if not k.startswith(PREFIX)]
            headers.append((REPLAYED_FROM, f"{name}/{record.partition}/{record.offset}".encode()))
            futures.append(
                await producer.send(
                    source,
                    value=record.value,
                    key=record.key,
                    headers=headers,
                    partition=source_partition if source_partition in partitions else None,
                )
            )
        await asyncio.gather(*futures)  # every one acknowledged before anything is remembered
    finally:
        await producer.stop()
