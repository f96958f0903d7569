"""The inbound topic `crm.timeline.interactions.v1` against a real PostgreSQL: a message is
recorded exactly like `POST /v1/interactions`, a repeat is a no-op, and a message that can
never be recorded is a poison message (the consumer dead-letters it) that leaves nothing."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_contracts.events import ContactDatesChanged, InteractionRecorded, TimelineEntryRecorded
from crm_runtime.consumer import PoisonMessage

from .conftest import Timeline

pytestmark = pytest.mark.integration

ENTRY = "crm.timeline.entry_recorded.v1"
INTERACTION = "crm.timeline.interaction_recorded.v1"
DATES = "crm.timeline.contact_dates_changed.v1"
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def call(cid: uuid.UUID, **values: Any) -> dict[str, Any]:
    return {
        "customer_id": str(cid),
        "kind": "call",
        "direction": "inbound",
        "outcome": "answered",
        "occurred_at": T0.isoformat(),
        "external_id": "pbx-100",
        "summary": "asked about delivery",
        "duration_seconds": 65,
        "recording_url": "https://pbx.example/rec/100.mp3",
    } | values


async def test_a_submitted_interaction_is_recorded_like_a_post(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    event = await timeline.submit(call(cid), workspace="branch-2")

    (row,) = await timeline.rows("SELECT * FROM interactions")
    assert (row.workspace, row.customer_id, row.kind, row.outcome, row.external_id) == ("branch-2", cid, "call", "answered", "pbx-100")
    assert (row.occurred_at, row.duration_seconds, row.recording_url) == (T0, 65, "https://pbx.example/rec/100.mp3")
    (entry,) = await timeline.timeline(cid, "branch-2")
    assert entry["id"] == str(row.id)
    assert entry["summary"] == "Call (inbound, answered, 1:05): asked about delivery"
    assert await timeline.contact_dates(cid, "branch-2") == {
        "customer_id": str(cid),
        "last_contact_at": "2024-05-01T09:30:00Z",
        "next_contact_at": None,
    }

    staged = await timeline.outbox()
    assert [s["envelope"]["type"] for s in staged] == [ENTRY, INTERACTION, DATES]
    assert {s["envelope"]["workspace"] for s in staged} == {"branch-2"}
    assert {s["envelope"]["correlationid"] for s in staged} == {"gw-1"}, "the gateway's correlation id is carried along"
    assert staged[1]["envelope"]["causationid"] == str(event.id)
    assert TimelineEntryRecorded.model_validate(staged[0]["envelope"]["data"]).summary == entry["summary"]
    assert InteractionRecorded.model_validate(staged[1]["envelope"]["data"]) == InteractionRecorded(
        customer_id=cid, interaction_id=row.id, kind="call", direction="inbound", outcome="answered", occurred_at=T0
    )
    assert ContactDatesChanged.model_validate(staged[2]["envelope"]["data"]).last_contact_at == T0

    fetched = await timeline.http.get(f"/v1/interactions/{row.id}", headers={"X-Workspace": "branch-2"})
    assert fetched.json()["external_id"] == "pbx-100" and fetched.json()["duration_seconds"] == 65
    assert (await timeline.http.get(f"/v1/interactions/{row.id}")).status_code == 404, "not an interaction of workspace main"


async def test_a_repeat_is_a_no_op_whichever_way_it_comes(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    first = await timeline.submit(call(cid))
    staged = len(await timeline.outbox())

    await timeline.submit(call(cid, summary="resent by the gateway"))  # a new message, same external id
    await timeline.submit(call(cid), event=first)  # the same message redelivered past the inbox
    posted = await timeline.post(**call(cid))  # and the same key over HTTP

    assert posted.status_code == 200, "the key is shared with POST /v1/interactions"
    assert await timeline.scalar("SELECT count(*) FROM interactions") == 1
    assert await timeline.scalar("SELECT count(*) FROM entries") == 1
    assert len(await timeline.outbox()) == staged
    assert (await timeline.timeline(cid))[0]["summary"].endswith("asked about delivery")


async def test_a_submission_for_a_card_timeline_has_not_heard_of_is_kept_once_customer_svc_confirms_it(timeline: Timeline) -> None:
    cid = uuid.uuid4()  # `submit` tells the stand-in customer-svc about it
    await timeline.submit({"customer_id": str(cid), "kind": "whatsapp", "direction": "inbound", "external_id": "wa-1"})
    (entry,) = await timeline.timeline(cid)
    assert entry["kind"] == "whatsapp"
    assert datetime.fromisoformat(entry["occurred_at"]) > datetime.now(UTC) - timedelta(minutes=1), "occurred_at defaults to now"


async def test_reminders_and_meetings_from_the_topic_set_the_next_contact(timeline: Timeline) -> None:
    cid, owner = uuid.uuid4(), uuid.uuid4()
    due, meeting = T0 + timedelta(days=3), T0 + timedelta(days=2)
    await timeline.submit(
        {"customer_id": str(cid), "kind": "reminder", "due_at": due.isoformat(), "owner_id": str(owner), "external_id": "r-1"}
    )
    await timeline.submit(
        {"customer_id": str(cid), "kind": "meeting", "outcome": "scheduled", "scheduled_at": meeting.isoformat(), "external_id": "m-1"}
    )
    assert (await timeline.contact_dates(cid))["next_contact_at"] == "2024-05-03T09:30:00Z"
    listed = await timeline.http.get("/v1/reminders", params={"owner_id": str(owner)})
    assert [r["external_id"] for r in listed.json()["items"]] == ["r-1"]


POISON = [
    pytest.param({"outcome": "held"}, "outcome", id="outcome-of-another-kind"),
    pytest.param({"kind": "fax"}, "kind: unknown kind", id="unknown-kind"),
    pytest.param({"direction": "sideways"}, "direction: must be inbound or outbound", id="unknown-direction"),
    pytest.param({"kind": "note", "duration_seconds": 30}, "duration_seconds", id="call-detail-on-a-note"),
    pytest.param({"kind": "reminder"}, "due_at", id="reminder-without-due-date"),
    pytest.param({"kind": "meeting", "outcome": "scheduled"}, "scheduled_at", id="scheduled-meeting-without-time"),
    pytest.param({"external_id": None}, "external_id", id="no-idempotency-key"),
    pytest.param({"external_id": ""}, "external_id", id="empty-idempotency-key"),
    pytest.param({"customer_id": "not-a-uuid"}, "customer_id", id="bad-customer-id"),
    pytest.param({"occurred_at": "2024-05-01T09:30:00"}, "occurred_at", id="naive-time"),
    pytest.param({"summary": "x" * 2001}, "summary", id="summary-too-long"),
]


@pytest.mark.parametrize(("change", "named"), POISON)
async def test_a_message_that_can_never_be_recorded_is_poison_and_leaves_nothing(
    timeline: Timeline, change: dict[str, Any], named: str
) -> None:
    data = {k: v for k, v in (call(uuid.uuid4()) | change).items() if v is not None}

    with pytest.raises(PoisonMessage, match=named):
        await timeline.submit(data)

    assert await timeline.scalar("SELECT count(*) FROM interactions") == 0
    assert await timeline.scalar("SELECT count(*) FROM entries") == 0
    assert await timeline.outbox() == []


async def test_the_topic_is_subscribed_and_its_type_handled(timeline: Timeline) -> None:
    assert "crm.timeline.interactions.v1" in timeline.container.registry.topics()
    assert "crm.timeline.interaction_submitted.v1" in timeline.container.registry
