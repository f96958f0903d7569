"""A partition's run of inbound interactions is applied set-based in one transaction, and gives
exactly what applying the same messages one at a time gives: the same interactions, entries and
contact dates, and the same events staged in the same order (issue 19). Against a real
PostgreSQL: one database applies the messages one at a time, another as one run (through the
consumer's own batch path, dead letters captured)."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerCreated
from crm_devtools.testdb import migrated_database
from crm_runtime.consumer import PoisonMessage

from .conftest import SERVICE_ROOT, FakeCustomerSvc, Timeline, card

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
TOPIC = "crm.timeline.interactions.v1"


@pytest.fixture
async def other(customer_svc: FakeCustomerSvc) -> AsyncIterator[Timeline]:
    """A second timeline database (the other way of applying the same messages)."""
    async with migrated_database(SERVICE_ROOT, "timeline_it") as url:
        t = Timeline(url, customer_svc.url)
        t.customer_svc = customer_svc
        yield t
        await t.close()


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def messages(t: Timeline, a: uuid.UUID, b: uuid.UUID, fresh: uuid.UUID, nowhere: uuid.UUID | None) -> list[Envelope]:
    """A run as a gateway sends it: several for card A (its dates change more than once), a repeat
    of an external id within the run and one of an id stored before, a card timeline-svc has not
    heard of yet (customer-svc confirms it), times in another offset, and (`nowhere`) a message
    for a card that exists nowhere."""
    data: list[dict[str, Any]] = [
        {"customer_id": str(a), "kind": "call", "direction": "inbound", "outcome": "answered", "occurred_at": at(0), "external_id": "c-1",
         "summary": "asked about delivery", "duration_seconds": 65, "recording_url": "https://pbx.example/1.mp3"},
        {"customer_id": str(a), "kind": "reminder", "due_at": "2024-05-04T12:00:00+03:00", "owner_id": str(uuid.uuid4()),
         "external_id": "r-1", "occurred_at": at(1)},
        {"customer_id": str(b), "kind": "email", "direction": "outbound", "occurred_at": at(2), "external_id": "e-1", "summary": "quote"},
        {"customer_id": str(a), "kind": "call", "direction": "inbound", "outcome": "busy", "occurred_at": at(3), "external_id": "c-1",
         "summary": "the same call, resent"},
        {"customer_id": str(a), "kind": "meeting", "outcome": "scheduled", "scheduled_at": at(30), "occurred_at": at(4), "external_id": "m-1"},
        {"customer_id": str(fresh), "kind": "whatsapp", "direction": "inbound", "occurred_at": at(5), "external_id": "w-1", "body": "hi"},
        {"customer_id": str(b), "kind": "note", "occurred_at": at(6), "external_id": "before-1", "summary": "stored before the run"},
        {"customer_id": str(a), "kind": "email", "direction": "inbound", "occurred_at": at(7), "external_id": "e-2"},
        {"customer_id": str(b), "kind": "call", "direction": "outbound", "outcome": "answered", "occurred_at": at(8), "external_id": "c-2"},
    ]  # fmt: skip
    if nowhere is not None:
        data.insert(4, {"customer_id": str(nowhere), "kind": "sms", "occurred_at": at(3.5), "external_id": "s-1"})
    events = []
    for d in data:
        known = d["customer_id"] != str(nowhere)
        events.append(t.submitted(d, known=known))
    return events


async def prepare(t: Timeline, a: uuid.UUID, b: uuid.UUID) -> None:
    """Cards A and B known from their `created` events; B with an interaction stored before."""
    for number, cid in ((700_001, a), (700_002, b)):
        await t.consume(CustomerCreated(customer=card(cid, number), channel_kind="web"), cid)
    before = {"customer_id": str(b), "kind": "note", "occurred_at": at(-5), "external_id": "before-1", "summary": "earlier"}
    await t.submit(before)
    async with t.sessions() as session, session.begin():
        await session.execute(text("DELETE FROM outbox"))  # compared: what the messages stage


async def state(t: Timeline) -> dict[str, Any]:
    """Everything the messages leave, with the ids each database mints replaced by the external
    id of their interaction (or the staging position of the event they name)."""
    interactions = await t.rows("SELECT * FROM interactions ORDER BY external_id")
    names = {r.id: r.external_id for r in interactions}
    entries = await t.rows("SELECT * FROM entries WHERE id = ANY(:ids) ORDER BY occurred_at, id", ids=list(names))
    dates = await t.rows("SELECT customer_id, workspace, last_contact_at, next_contact_at FROM contact_dates ORDER BY customer_id")
    staged = await t.outbox()
    positions = {s["envelope"]["id"]: k for k, s in enumerate(staged)}

    def named(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: named(v) for k, v in value.items()}
        try:
            return names.get(uuid.UUID(str(value)), value)
        except ValueError:
            return value

    skip = {"id", "created_at"}
    return {
        "interactions": [{k: v for k, v in r._mapping.items() if k not in skip} for r in interactions],
        "entries": [named({k: v for k, v in r._mapping.items() if k not in ("id", "recorded_at")}) | {"of": names[r.id]} for r in entries],
        "contact_dates": [tuple(r) for r in dates],
        "staged": [
            {
                "topic": s["topic"],
                "key": s["key"],
                "type": s["envelope"]["type"],
                "data": named(s["envelope"]["data"]),
                "workspace": s["envelope"]["workspace"],
                "correlationid": s["envelope"]["correlationid"],
                "cause": positions.get(s["envelope"]["causationid"], s["envelope"]["causationid"]),
            }
            for s in staged
        ],
    }


async def one_at_a_time(t: Timeline, events: list[Envelope]) -> list[str]:
    """Each message in a transaction of its own; the reasons of those refused."""
    refused = []
    for event in events:
        try:
            await t.submit({}, event=event)
        except PoisonMessage as exc:
            refused.append(str(exc))
    return refused


async def test_a_run_gives_exactly_what_one_at_a_time_gives(timeline: Timeline, other: Timeline) -> None:
    a, b, fresh = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for t in (timeline, other):
        await prepare(t, a, b)
    events = messages(timeline, a, b, fresh, None)

    assert await one_at_a_time(timeline, events) == []
    await other.apply(events)  # one run, one transaction

    single, run = await state(timeline), await state(other)
    assert run == single
    assert [i["external_id"] for i in run["interactions"]] == ["before-1", "c-1", "c-2", "e-1", "e-2", "m-1", "r-1", "w-1"]
    assert next(i for i in run["interactions"] if i["external_id"] == "c-1")["summary"] == "asked about delivery", "the first one counts"
    dates_of_a = [s["data"] for s in run["staged"] if s["type"].endswith("contact_dates_changed.v1") and s["key"] == str(a)]
    assert len(dates_of_a) == 4, "A's dates changed with the call, the reminder, the meeting and the e-mail: one event each"


async def test_a_bad_message_in_a_batch_is_dead_lettered_and_the_others_are_recorded_as_one_at_a_time(
    timeline: Timeline, other: Timeline
) -> None:
    a, b, fresh, nowhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for t in (timeline, other):
        await prepare(t, a, b)
    events = messages(timeline, a, b, fresh, nowhere)
    unfit = other.submitted({"customer_id": str(a), "kind": "note", "duration_seconds": 30, "external_id": "n-bad"})
    events.insert(2, unfit)

    refused = await one_at_a_time(timeline, events)
    letters = await through_the_consumer(other, events)

    assert await state(other) == await state(timeline)
    assert [(json.loads(value)["id"], reason) for value, reason in letters] == [
        (str(unfit.id), refused[0]),
        (str(events[5].id), refused[1]),
    ]
    assert "duration_seconds" in refused[0] and "no such customer" in refused[1]


async def through_the_consumer(t: Timeline, events: list[Envelope]) -> list[tuple[bytes, str]]:
    """`events` as one partition's batch through the consumer's own path (inbox, one transaction,
    split up when it fails); the dead letters sent (value, reason)."""
    sent: list[tuple[bytes, str]] = []

    class Producer:
        async def send_and_wait(self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> None:
            assert topic == TOPIC + ".dlq"
            sent.append((value, dict(headers)["dlq-error"].decode()))

    t.consumer._producer = Producer()  # type: ignore[assignment]
    records = [
        SimpleNamespace(topic=TOPIC, partition=0, offset=k, key=e.subject.encode() if e.subject else None, headers=[],
                        value=json.dumps(e.model_dump(mode="json")).encode())
        for k, e in enumerate(events)
    ]  # fmt: skip
    assert await t.consumer._process_partition(records)  # type: ignore[arg-type]
    return sent
