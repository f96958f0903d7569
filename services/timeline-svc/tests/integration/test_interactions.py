"""`POST /v1/interactions`, contact dates and the timeline against a real PostgreSQL."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from crm_contracts.events import (
    ContactDatesChanged,
    CustomerCreated,
    CustomerStatusChanged,
    InteractionRecorded,
    TimelineEntryRecorded,
)
from crm_devtools.tokens import TESTER
from timeline_svc.adapters.tables import metadata

from .conftest import Timeline, card

pytestmark = pytest.mark.integration

ENTRY = "crm.timeline.entry_recorded.v1"
INTERACTION = "crm.timeline.interaction_recorded.v1"
DATES = "crm.timeline.contact_dates_changed.v1"
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def test_a_call_is_stored_with_its_entry_dates_and_events(timeline: Timeline) -> None:
    cid, owner = uuid.uuid4(), uuid.uuid4()
    response = await timeline.post(
        customer_id=str(cid),
        kind="call",
        direction="outbound",
        outcome="answered",
        occurred_at=iso(T0),
        summary="asked for a quote",
        body="Wants 3 units.",
        owner_id=str(owner),
        external_id="pbx-1",
        duration_seconds=205,
        recording_url="https://pbx.example/rec/1.mp3",
    )

    assert response.status_code == 201, response.text
    body = response.json()
    iid = uuid.UUID(body["id"])
    assert response.headers["location"] == f"/v1/interactions/{iid}"
    assert body | {"id": None, "created_at": None} == {
        "id": None,
        "workspace": "main",
        "customer_id": str(cid),
        "kind": "call",
        "direction": "outbound",
        "outcome": "answered",
        "occurred_at": "2024-05-01T09:30:00Z",
        "scheduled_at": None,
        "due_at": None,
        "done": False,
        "summary": "asked for a quote",
        "body": "Wants 3 units.",
        "owner_id": str(owner),
        "external_id": "pbx-1",
        "created_at": None,
        "original_customer_id": None,
        "done_at": None,
        "duration_seconds": 205,
        "recording_url": "https://pbx.example/rec/1.mp3",
        "recorded_by": TESTER,
        "changed_by": None,
    }
    assert (await timeline.http.get(f"/v1/interactions/{iid}")).json() == body

    (entry,) = await timeline.timeline(cid)
    assert entry["id"] == str(iid)
    assert entry["kind"] == "call"
    assert entry["summary"] == "Call (outbound, answered, 3:25): asked for a quote"
    assert entry["data"] == {
        "interaction_id": str(iid),
        "direction": "outbound",
        "outcome": "answered",
        "owner_id": str(owner),
        "external_id": "pbx-1",
        "duration_seconds": 205,
        "recording_url": "https://pbx.example/rec/1.mp3",
        "recorded_by": TESTER,
    }

    staged = await timeline.outbox()
    assert [s["envelope"]["type"] for s in staged] == [ENTRY, INTERACTION, DATES]
    assert {(s["topic"], s["key"], s["envelope"]["subject"], s["envelope"]["workspace"]) for s in staged} == {
        ("crm.timeline.events.v1", str(cid), str(cid), "main")
    }
    assert TimelineEntryRecorded.model_validate(staged[0]["envelope"]["data"]) == TimelineEntryRecorded(
        customer_id=cid, entry_id=iid, kind="call", occurred_at=T0, summary="Call (outbound, answered, 3:25): asked for a quote"
    )
    assert InteractionRecorded.model_validate(staged[1]["envelope"]["data"]) == InteractionRecorded(
        customer_id=cid, interaction_id=iid, kind="call", direction="outbound", outcome="answered", occurred_at=T0, owner_id=owner
    )
    assert ContactDatesChanged.model_validate(staged[2]["envelope"]["data"]) == ContactDatesChanged(
        customer_id=cid, last_contact_at=T0, next_contact_at=None
    )
    assert staged[2]["envelope"]["causationid"] == staged[1]["envelope"]["id"]
    assert await timeline.contact_dates(cid) == {
        "customer_id": str(cid),
        "last_contact_at": "2024-05-01T09:30:00Z",
        "next_contact_at": None,
    }


async def test_occurred_at_defaults_to_now(timeline: Timeline) -> None:
    before = datetime.now(UTC)
    response = await timeline.post(customer_id=str(uuid.uuid4()), kind="sms", direction="inbound")
    assert response.status_code == 201, response.text
    occurred = datetime.fromisoformat(response.json()["occurred_at"])
    assert before - timedelta(seconds=1) <= occurred <= datetime.now(UTC) + timedelta(seconds=1)


async def test_a_repeated_external_id_answers_the_stored_interaction_and_publishes_nothing(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    first = await timeline.post(customer_id=str(cid), kind="email", direction="inbound", external_id="msg-42", summary="first")
    staged = len(await timeline.outbox())

    again = await timeline.post(customer_id=str(cid), kind="email", direction="inbound", external_id="msg-42", summary="changed")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert len(await timeline.outbox()) == staged
    assert await timeline.scalar("SELECT count(*) FROM interactions") == 1
    assert await timeline.scalar("SELECT count(*) FROM entries") == 1

    other = uuid.uuid4()  # a card of branch-2 (a card lives in one workspace)
    elsewhere = await timeline.post("branch-2", customer_id=str(other), kind="email", external_id="msg-42")
    assert elsewhere.status_code == 201, "the key is unique per workspace"
    assert elsewhere.json()["workspace"] == "branch-2"
    assert elsewhere.json()["id"] != first.json()["id"]


async def test_concurrent_repeats_store_one_interaction(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    responses = await asyncio.gather(
        *(timeline.post(customer_id=str(cid), kind="call", outcome="answered", external_id="pbx-race") for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await timeline.scalar("SELECT count(*) FROM interactions") == 1
    assert [s["envelope"]["type"] for s in await timeline.outbox()] == [ENTRY, INTERACTION, DATES]


async def test_without_external_id_every_post_is_new(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    responses = [await timeline.post(customer_id=str(cid), kind="note", summary="same") for _ in range(3)]
    assert [r.status_code for r in responses] == [201] * 3
    assert len({r.json()["id"] for r in responses}) == 3


async def test_contact_dates_follow_the_interactions(timeline: Timeline) -> None:
    cid = uuid.uuid4()

    async def post(**body: Any) -> dict[str, Any]:
        response = await timeline.post(customer_id=str(cid), **body)
        assert response.status_code == 201, response.text
        return await timeline.contact_dates(cid)

    def dates(last: datetime | None, upcoming: datetime | None) -> dict[str, Any]:
        show = lambda d: d.isoformat().replace("+00:00", "Z") if d else None  # noqa: E731
        return {"customer_id": str(cid), "last_contact_at": show(last), "next_contact_at": show(upcoming)}

    steps = [
        ({"kind": "note", "occurred_at": iso(T0)}, dates(None, None)),
        ({"kind": "call", "outcome": "no_answer", "occurred_at": iso(T0 + timedelta(hours=1))}, dates(None, None)),
        ({"kind": "reminder", "due_at": iso(T0 + timedelta(days=2))}, dates(None, T0 + timedelta(days=2))),
        ({"kind": "meeting", "outcome": "scheduled", "scheduled_at": iso(T0 + timedelta(days=1))}, dates(None, T0 + timedelta(days=1))),
        (
            {"kind": "email", "direction": "outbound", "occurred_at": iso(T0 - timedelta(hours=1))},
            dates(T0 - timedelta(hours=1), T0 + timedelta(days=1)),
        ),
        ({"kind": "reminder", "due_at": iso(T0), "done": True}, dates(T0 - timedelta(hours=1), T0 + timedelta(days=1))),
        (
            {"kind": "meeting", "outcome": "cancelled", "scheduled_at": iso(T0 + timedelta(hours=3))},
            dates(T0 - timedelta(hours=1), T0 + timedelta(days=1)),
        ),
        (
            {"kind": "meeting", "outcome": "held", "occurred_at": iso(T0 + timedelta(hours=2))},
            dates(T0 + timedelta(hours=2), T0 + timedelta(days=1)),
        ),
        ({"kind": "meeting", "scheduled_at": iso(T0 + timedelta(hours=20))}, dates(T0 + timedelta(hours=2), T0 + timedelta(hours=20))),
        ({"kind": "whatsapp", "occurred_at": iso(T0 - timedelta(days=5))}, dates(T0 + timedelta(hours=2), T0 + timedelta(hours=20))),
    ]
    for body, expected in steps:
        assert await post(**body) == expected, body

    changed = [ContactDatesChanged.model_validate(s["envelope"]["data"]) for s in await timeline.outbox(DATES)]
    assert len(changed) == 5, "published only when the dates changed"
    assert changed[-1] == ContactDatesChanged(
        customer_id=cid, last_contact_at=T0 + timedelta(hours=2), next_contact_at=T0 + timedelta(hours=20)
    )
    assert len(await timeline.outbox(INTERACTION)) == len(steps)


async def test_interaction_entries_sit_among_system_entries(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    await timeline.consume(CustomerCreated(customer=card(cid, 500_001, first_name="Dana"), channel_kind="web"), cid)
    note = await timeline.post(customer_id=str(cid), kind="note", summary="VIP", occurred_at=iso(datetime.now(UTC) + timedelta(minutes=1)))
    assert note.status_code == 201

    assert [e["kind"] for e in await timeline.timeline(cid)] == ["note", "created"]
    only_notes = await timeline.http.get(f"/v1/customers/{cid}/timeline", params={"kind": "note"})
    assert [e["id"] for e in only_notes.json()["items"]] == [note.json()["id"]]


async def test_status_changes_are_on_the_timeline_once(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    payload = CustomerStatusChanged(customer_id=cid, status="in_progress", previous_status="new", cause="manual", reason="called back")
    event = await timeline.consume(payload, cid)
    await timeline.consume(payload, cid, event=event)  # redelivered past the inbox

    (entry,) = await timeline.timeline(cid)
    assert (entry["kind"], entry["summary"]) == ("status_changed", "Status new → in_progress (manual): called back")
    assert [s["envelope"]["type"] for s in await timeline.outbox()] == [ENTRY]


async def test_unknowns(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    assert await timeline.contact_dates(cid) == {"customer_id": str(cid), "last_contact_at": None, "next_contact_at": None}
    for path in (f"/v1/customers/{uuid.uuid4()}/contact-dates", f"/v1/customers/{uuid.uuid4()}/timeline"):
        nobody = await timeline.http.get(path)  # no such card, here or in customer-svc
        assert nobody.status_code == 404 and nobody.headers["content-type"] == "application/problem+json", nobody.text
    missing = await timeline.http.get(f"/v1/interactions/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


CID = str(uuid.UUID(int=7))


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"customer_id", "kind"}),
        ({"customer_id": "not-a-uuid", "kind": "call"}, {"customer_id"}),
        ({"customer_id": CID, "kind": "fax"}, {"kind"}),
        ({"customer_id": CID, "kind": "call", "outcome": "held"}, {"outcome"}),
        ({"customer_id": CID, "kind": "meeting", "outcome": "answered"}, {"outcome"}),
        ({"customer_id": CID, "kind": "email", "outcome": "answered"}, {"outcome"}),
        ({"customer_id": CID, "kind": "meeting", "outcome": "scheduled"}, {"scheduled_at"}),
        ({"customer_id": CID, "kind": "reminder"}, {"due_at"}),
        ({"customer_id": CID, "kind": "call", "due_at": "2024-05-01T09:30:00Z"}, {"due_at"}),
        ({"customer_id": CID, "kind": "note", "scheduled_at": "2024-05-01T09:30:00Z"}, {"scheduled_at"}),
        ({"customer_id": CID, "kind": "note", "done": True}, {"done"}),
        ({"customer_id": CID, "kind": "call", "occurred_at": "2024-05-01T09:30:00"}, {"occurred_at"}),
        ({"customer_id": CID, "kind": "call", "occurred_at": "yesterday"}, {"occurred_at"}),
        ({"customer_id": CID, "kind": "call", "direction": "sideways"}, {"direction"}),
        ({"customer_id": CID, "kind": "call", "external_id": ""}, {"external_id"}),
        ({"customer_id": CID, "kind": "call", "duration": 30}, {"duration"}),
        ({"customer_id": CID, "kind": "call", "duration_seconds": -1}, {"duration_seconds"}),
        ({"customer_id": CID, "kind": "note", "duration_seconds": 30, "recording_url": "https://x"}, {"duration_seconds", "recording_url"}),
        ({"customer_id": CID, "kind": "note", "summary": "x" * 2001}, {"summary"}),
    ],
)
async def test_invalid_bodies_are_422_problems_naming_the_field(timeline: Timeline, body: dict[str, Any], fields: set[str]) -> None:
    response = await timeline.http.post("/v1/interactions", json=body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert {e["field"] for e in problem["errors"]} == fields
    assert all(e["message"] for e in problem["errors"])
    assert await timeline.scalar("SELECT count(*) FROM interactions") == 0
    assert await timeline.outbox() == []


async def test_malformed_json_is_a_problem_too(timeline: Timeline) -> None:
    response = await timeline.http.post("/v1/interactions", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["type"].endswith("/malformed-json")
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_migrations_build_exactly_the_tables_the_code_uses(timeline: Timeline) -> None:
    def diff(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata))

    async with timeline.container.runtime.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_concurrent_interactions_of_one_customer_leave_consistent_dates(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    contacts = [T0 + timedelta(hours=h) for h in (5, 1, 9, 3, 7, 2, 8, 4)]
    dues = [T0 + timedelta(days=d) for d in (9, 4, 6, 2, 8, 3, 7, 5)]
    bodies = [{"kind": "email", "occurred_at": iso(t)} for t in contacts] + [{"kind": "reminder", "due_at": iso(t)} for t in dues]

    responses = await asyncio.gather(*(timeline.post(customer_id=str(cid), **body) for body in bodies))

    assert all(r.status_code == 201 for r in responses)
    final = ContactDatesChanged(customer_id=cid, last_contact_at=max(contacts), next_contact_at=min(dues))
    assert await timeline.contact_dates(cid) == {
        "customer_id": str(cid),
        "last_contact_at": max(contacts).isoformat().replace("+00:00", "Z"),
        "next_contact_at": min(dues).isoformat().replace("+00:00", "Z"),
    }
    published = [ContactDatesChanged.model_validate(s["envelope"]["data"]) for s in await timeline.outbox(DATES)]
    assert published[-1] == final, "the last published dates are the stored ones"
    assert len(published) == len(set((p.last_contact_at, p.next_contact_at) for p in published)), "each change published once"
