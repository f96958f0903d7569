"""Handlers registered by payload class: types and topics come from the contracts, the
consumer parses each payload once before any handler runs, and an invalid payload is poison
before a transaction opens."""

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import MetaData

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import ContactDatesChanged, CustomerDeleted, CustomerErased, LeadQueued
from crm_runtime.consumer import EventConsumer
from crm_runtime.delivery_tables import inbox_table
from crm_runtime.registry import Message, Registry, event_type
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit

SETTINGS = ServiceSettings(service_name="svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x", consumer_max_retries=2)


def test_the_event_type_and_the_topics_come_from_the_contracts() -> None:
    registry = Registry()

    async def nothing(_s: object, _m: object) -> None:
        return None

    registry.on(CustomerDeleted, nothing).on_run(ContactDatesChanged, nothing)
    assert event_type(CustomerDeleted) == "crm.customer.deleted.v1"
    assert "crm.customer.deleted.v1" in registry and "crm.customer.created.v1" not in registry
    assert registry.topics() == [topics.CUSTOMER_EVENTS, topics.TIMELINE_EVENTS]


def test_a_type_takes_one_handler_and_a_class_outside_the_contracts_none() -> None:
    async def nothing(_s: object, _m: object) -> None:
        return None

    registry = Registry().on(LeadQueued, nothing)
    with pytest.raises(ValueError, match="already has a handler"):
        registry.include(Registry().on_run(LeadQueued, nothing))
    with pytest.raises(KeyError, match="Envelope is no event payload"):
        Registry().on(Envelope, nothing)


class Inbox:
    def __init__(self) -> None:
        self.opened = 0
        self.seen: set[Any] = set()

    def __call__(self) -> "Inbox":
        return self

    async def __aenter__(self) -> "Inbox":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def begin(self) -> "Inbox":
        self.opened += 1
        return self

    async def scalars(self, _stmt: object, params: dict[str, list[Any]]) -> list[Any]:
        fresh = [i for i in params["ids"] if i not in self.seen]
        self.seen |= set(fresh)
        return fresh


class Producer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: bytes | None = None, headers: Any = None) -> None:
        self.sent.append({"topic": topic, "headers": dict(headers or ())})


def record(envelope: Envelope, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = envelope.model_dump_json().encode()
    return ConsumerRecord(topics.CUSTOMER_EVENTS, 0, offset, 0, 0, b"k", value, None, 1, len(value), [])


def deleted(**data: Any) -> Envelope:
    return Envelope(source="/crm/test", type="crm.customer.deleted.v1", data={"customer_id": str(uuid4()), "workspace": "main", **data})


async def test_handlers_get_typed_payloads_parsed_once_runs_in_order_and_bad_payloads_are_dead_lettered() -> None:
    runs: list[list[Any]] = []
    singles: list[Any] = []

    async def on_deleted(_s: object, messages: Sequence[Message[CustomerDeleted]]) -> None:
        assert all(isinstance(m.payload, CustomerDeleted) for m in messages)
        runs.append([m.payload.customer_id for m in messages])

    async def on_dates(_s: object, message: Message[ContactDatesChanged]) -> None:
        singles.append(message.payload)

    registry = Registry().on_run(CustomerDeleted, on_deleted).on(ContactDatesChanged, on_dates)
    inbox, producer = Inbox(), Producer()
    consumer = EventConsumer(SETTINGS, inbox, inbox_table(MetaData()), registry.topics(), registry, producer)  # type: ignore[arg-type]
    good = [deleted(), deleted()]
    bad = Envelope(source="/crm/test", type="crm.customer.deleted.v1", data={"customer_id": "not a uuid", "workspace": "main"})
    other = Envelope(source="/crm/test", type="crm.customer.created.v1", data={"anything": 1})  # not handled: ignored
    assert await consumer._process_partition([record(good[0], 1), record(other, 2), record(bad, 3), record(good[1], 4)])
    # the batch fails on the bad payload before its transaction opens, then goes one at a time
    assert [str(c) for run in runs for c in run] == [good[0].data["customer_id"], good[1].data["customer_id"]], "each applied once"
    (letter,) = producer.sent
    assert letter["topic"] == topics.CUSTOMER_EVENTS + ".dlq"
    assert letter["headers"]["dlq-error"].startswith(b"invalid crm.customer.deleted.v1 payload: customer_id")
    assert singles == []


async def test_one_run_handler_registered_for_several_classes_takes_their_mixed_run_whole() -> None:
    calls: list[list[str]] = []

    async def on_cards(_s: object, messages: Sequence[Message[Any]]) -> None:
        calls.append([type(m.payload).__name__ for m in messages])

    async def on_dates(_s: object, _m: Message[ContactDatesChanged]) -> None:
        calls.append(["dates"])

    registry = Registry().on_run(CustomerDeleted, on_cards).on_run(CustomerErased, on_cards).on(ContactDatesChanged, on_dates)
    consumer = EventConsumer(SETTINGS, Inbox(), inbox_table(MetaData()), registry.topics(), registry, Producer())  # type: ignore[arg-type]
    restored = Envelope(source="/crm/test", type="crm.customer.erased.v1", data={"customer_id": str(uuid4()), "workspace": "main"})
    dates = Envelope(
        source="/crm/test",
        type="crm.timeline.contact_dates_changed.v1",
        data={"customer_id": str(uuid4()), "last_contact_at": None, "next_contact_at": None},
    )
    batch = [deleted(), restored, deleted(), dates, restored.model_copy(update={"id": uuid4()})]
    assert await consumer._process_partition([record(e, i) for i, e in enumerate(batch)])
    assert calls == [["CustomerDeleted", "CustomerErased", "CustomerDeleted"], ["dates"], ["CustomerErased"]]


def on_partition(envelope: Envelope, partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = envelope.model_dump_json().encode()
    return ConsumerRecord(topics.CUSTOMER_EVENTS, partition, offset, 0, 0, b"k", value, None, 1, len(value), [])


async def test_a_polls_partitions_share_one_transaction_and_go_their_own_way_when_it_fails() -> None:
    seen: list[list[str]] = []

    async def on_deleted(_s: object, messages: Sequence[Message[CustomerDeleted]]) -> None:
        seen.append([str(m.payload.customer_id) for m in messages])

    registry = Registry().on_run(CustomerDeleted, on_deleted)
    inbox, producer = Inbox(), Producer()
    consumer = EventConsumer(SETTINGS, inbox, inbox_table(MetaData()), registry.topics(), registry, producer)  # type: ignore[arg-type]
    a, b, c = deleted(), deleted(), deleted()
    assert await consumer._process_poll([[on_partition(a, 0, 1), on_partition(b, 0, 2)], [on_partition(c, 1, 1)]]) == [True, True]
    assert inbox.opened == 1, "one transaction for the whole poll"
    assert seen == [[a.data["customer_id"], b.data["customer_id"], c.data["customer_id"]]], "partition after partition, in order"

    seen.clear()
    bad = Envelope(source="/crm/test", type="crm.customer.deleted.v1", data={"customer_id": "not a uuid", "workspace": "main"})
    d, e = deleted(), deleted()
    assert await consumer._process_poll([[on_partition(d, 0, 3)], [on_partition(bad, 1, 2), on_partition(e, 1, 3)]]) == [True, True]
    assert sorted(i for run in seen for i in run) == sorted([d.data["customer_id"], e.data["customer_id"]])
    assert [letter["topic"] for letter in producer.sent] == [topics.CUSTOMER_EVENTS + ".dlq"], "only the bad message"
