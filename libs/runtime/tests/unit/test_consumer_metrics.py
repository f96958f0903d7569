"""The consumer's metrics with fakes: each applied event's age is observed per topic and type
once its transaction committed (repeats and ignored types are not), and the lag gauge follows
the partitions this client holds: idle ones refreshed, taken ones removed."""

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client import REGISTRY
from pydantic import BaseModel, ConfigDict
from sqlalchemy import MetaData

from crm_contracts.envelope import Envelope
from crm_runtime.consumer import EventConsumer
from crm_runtime.delivery_tables import inbox_table
from crm_runtime.registry import Message, Registry
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit

SETTINGS = ServiceSettings(service_name="svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x")
NOTED, MOVED, IGNORED = "crm.test.noted.v1", "crm.test.moved.v1", "crm.test.other.v1"


class Session:
    def __init__(self, inbox: set[Any]) -> None:
        self._inbox = inbox

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def begin(self) -> "Session":
        return self

    async def scalars(self, _stmt: object, params: dict[str, list[Any]]) -> list[Any]:
        fresh = [i for i in params["ids"] if i not in self._inbox]
        self._inbox.update(fresh)
        return fresh


class Database:
    def __init__(self) -> None:
        self.inbox: set[Any] = set()

    def __call__(self) -> Session:
        return Session(self.inbox)


class Client:
    """What the lag gauge asks of the Kafka client: its assignment and each partition's end."""

    def __init__(self, ends: dict[TopicPartition, int]) -> None:
        self.ends = ends

    def assignment(self) -> set[TopicPartition]:
        return set(self.ends)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends.get(tp)


class Note(BaseModel):
    """The test app's payload (outside the contracts)."""

    model_config = ConfigDict(extra="allow")
    text: str = ""


async def _noop(_session: object, _message: Message[Note]) -> None:
    return None


def _handlers() -> Registry:
    return Registry().on(Note, _noop, event_type=NOTED).on(Note, _noop, event_type=MOVED)


def _consumer(db: Database) -> EventConsumer:
    return EventConsumer(SETTINGS, cast(Any, db), inbox_table(MetaData()), [], _handlers(), cast(Any, None))


def _record(topic: str, event: Envelope, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = event.model_dump_json().encode()
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", value, None, 1, len(value), [])


def _event(event_type: str, age_s: float) -> Envelope:
    return Envelope(source="/crm/test", type=event_type, data={}, time=datetime.now(UTC) - timedelta(seconds=age_s))


def _age(topic: str, event_type: str, what: str) -> float:
    return REGISTRY.get_sample_value(f"crm_consumer_event_age_seconds_{what}", {"topic": topic, "type": event_type}) or 0.0


def _lag(topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value("crm_consumer_lag", {"topic": topic, "partition": str(partition)})


async def test_each_applied_event_is_observed_by_type_with_its_age_and_repeats_are_not() -> None:
    topic, db = "age.batch.v1", Database()
    consumer = _consumer(db)
    first, second = _event(NOTED, 30), _event(NOTED, 30)
    batch = [_record(topic, e, i) for i, e in enumerate([first, second, _event(MOVED, 2), _event(IGNORED, 2)])]

    assert await consumer._process_partition(batch)
    assert _age(topic, NOTED, "count") == 2
    assert 60 <= _age(topic, NOTED, "sum") < 70
    assert _age(topic, MOVED, "count") == 1
    assert _age(topic, IGNORED, "count") == 0  # nobody here applies it
    assert REGISTRY.get_sample_value("crm_consumer_event_age_seconds_bucket", {"topic": topic, "type": NOTED, "le": "10.0"}) == 0

    assert await consumer._process_partition([_record(topic, first, 9)])  # redelivered: a no-op, not a second observation
    assert _age(topic, NOTED, "count") == 2
    assert REGISTRY.get_sample_value("crm_consumer_messages_total", {"topic": topic, "outcome": "ok"}) == 5


async def test_an_event_from_a_clock_ahead_counts_as_age_zero() -> None:
    topic = "age.ahead.v1"
    assert await _consumer(Database())._process_partition([_record(topic, _event(NOTED, -5), 0)])
    assert _age(topic, NOTED, "count") == 1
    assert _age(topic, NOTED, "sum") == 0


async def test_one_at_a_time_observes_the_applied_message_too() -> None:
    topic = "age.one.v1"
    assert await _consumer(Database())._process_one(_record(topic, _event(MOVED, 3), 0))
    assert _age(topic, MOVED, "count") == 1
    assert 3 <= _age(topic, MOVED, "sum") < 13


def test_the_lag_of_idle_partitions_is_refreshed_and_taken_partitions_leave_no_gauge() -> None:
    topic = "lag.v1"
    kept, taken = TopicPartition(topic, 0), TopicPartition(topic, 1)
    consumer = _consumer(Database())
    client = Client({kept: 10, taken: 50})
    consumer._record_lag(cast(Any, client), {kept: [_record(topic, _event(NOTED, 0), 9)], taken: [_record(topic, _event(NOTED, 0), 19)]})
    assert (_lag(topic, 0), _lag(topic, 1)) == (0, 30)

    client.ends = {kept: 25}  # a rebalance took partition 1; partition 0 got 15 more, none fetched yet
    consumer._refresh_lag(cast(Any, client))
    assert _lag(topic, 0) == 15
    assert _lag(topic, 1) is None

    consumer._forget_lag(set())  # the client stops: it reports nothing any more
    assert _lag(topic, 0) is None


def test_every_outcome_of_every_topic_read_is_exported_from_the_start_so_the_first_dead_letter_is_an_increase() -> None:
    EventConsumer(SETTINGS, cast(Any, Database()), inbox_table(MetaData()), ["outcomes.v1"], _handlers(), cast(Any, None))
    for outcome in ("ok", "dead_lettered", "dead_letter_failed"):
        assert REGISTRY.get_sample_value("crm_consumer_messages_total", {"topic": "outcomes.v1", "outcome": outcome}) == 0
