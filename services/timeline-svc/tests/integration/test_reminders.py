"""The follow-up list (`GET /v1/reminders`) and changing reminders and meetings
(`PATCH /v1/interactions/{id}`) against a real PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_contracts.events import ContactDatesChanged, InteractionRecorded
from crm_devtools.tokens import TESTER

from .conftest import Timeline

pytestmark = pytest.mark.integration

ENTRY = "crm.timeline.entry_recorded.v1"
INTERACTION = "crm.timeline.interaction_recorded.v1"
DATES = "crm.timeline.contact_dates_changed.v1"
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


async def remind(timeline: Timeline, cid: uuid.UUID, due: datetime, workspace: str | None = None, **values: Any) -> dict[str, Any]:
    response = await timeline.post(workspace, customer_id=str(cid), kind="reminder", due_at=iso(due), **values)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def reminders(timeline: Timeline, workspace: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """Every page of the list, following the cursor."""
    headers = {"X-Workspace": workspace} if workspace else {}
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await timeline.http.get("/v1/reminders", params=params | ({"cursor": cursor} if cursor else {}), headers=headers)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


async def test_the_follow_up_list_filters_and_pages_oldest_due_first(timeline: Timeline) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    c1, c2 = uuid.uuid4(), uuid.uuid4()
    made = {
        "a5": await remind(timeline, c1, day(5), owner_id=str(alice), summary="a5"),
        "a1": await remind(timeline, c1, day(1), owner_id=str(alice), summary="a1"),
        "b3": await remind(timeline, c2, day(3), owner_id=str(bob), summary="b3"),
        "a3": await remind(timeline, c2, day(3), owner_id=str(alice), summary="a3"),  # same due time as b3
        "n2": await remind(timeline, c1, day(2), summary="n2"),
        "done": await remind(timeline, c1, day(0), owner_id=str(alice), done=True, summary="done"),
    }
    await remind(timeline, uuid.uuid4(), day(1), "branch-2", owner_id=str(alice), summary="elsewhere")
    await timeline.post(customer_id=str(c1), kind="meeting", outcome="scheduled", scheduled_at=iso(day(1)))  # not a reminder

    def names(items: list[dict[str, Any]]) -> list[str]:
        return [i["summary"] for i in items]

    same_due = sorted(["b3", "a3"], key=lambda n: made[n]["id"])  # ties go by id
    assert names(await reminders(timeline, limit=2)) == ["a1", "n2", *same_due, "a5"]
    assert names(await reminders(timeline, state="open", limit=1)) == ["a1", "n2", *same_due, "a5"]
    assert names(await reminders(timeline, owner_id=str(alice))) == ["a1", "a3", "a5"]
    assert names(await reminders(timeline, owner_id=str(alice), limit=1)) == ["a1", "a3", "a5"]
    assert names(await reminders(timeline, customer_id=str(c1))) == ["a1", "n2", "a5"]
    assert names(await reminders(timeline, due_before=iso(day(3)))) == ["a1", "n2"], "due_before is exclusive"
    assert names(await reminders(timeline, due_before=iso(day(4)), owner_id=str(alice), customer_id=str(c2))) == ["a3"]
    assert names(await reminders(timeline, state="done")) == ["done"]
    assert names(await reminders(timeline, "branch-2")) == ["elsewhere"]
    assert await reminders(timeline, "branch-3") == []

    (first,) = (await timeline.http.get("/v1/reminders", params={"limit": 1})).json()["items"]
    assert first == (await timeline.http.get(f"/v1/interactions/{made['a1']['id']}")).json()


@pytest.mark.parametrize(
    "params",
    [{"state": "all"}, {"limit": 0}, {"limit": 201}, {"due_before": "tomorrow"}, {"due_before": "2024-05-01T09:30:00"}, {"owner_id": "x"}],
)
async def test_bad_list_parameters_are_problems(timeline: Timeline, params: dict[str, Any]) -> None:
    response = await timeline.http.get("/v1/reminders", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_bad_cursor_is_a_400(timeline: Timeline) -> None:
    response = await timeline.http.get("/v1/reminders", params={"cursor": "bm90IGEgY3Vyc29y"})
    assert response.status_code == 400


async def test_marking_a_reminder_done_moves_it_and_the_next_contact(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    first = await remind(timeline, cid, day(1), summary="call back")
    await remind(timeline, cid, day(4), summary="send the contract")
    assert (await timeline.contact_dates(cid))["next_contact_at"] == iso(day(1))
    staged = len(await timeline.outbox())

    before = datetime.now(UTC)
    done = await timeline.patch(first["id"], done=True)

    assert done.status_code == 200, done.text
    body = done.json()
    assert body["done"] is True and before <= datetime.fromisoformat(body["done_at"]) <= datetime.now(UTC)
    assert body | {"done": False, "done_at": None, "changed_by": None} == first, "nothing else changed"
    assert body["changed_by"] == TESTER
    assert [r["summary"] for r in await reminders(timeline, customer_id=str(cid))] == ["send the contract"]
    assert [r["summary"] for r in await reminders(timeline, state="done")] == ["call back"]
    assert (await timeline.contact_dates(cid))["next_contact_at"] == iso(day(4))
    entry = next(e for e in await timeline.timeline(cid) if e["id"] == first["id"])
    assert entry["summary"] == "Reminder (done) due 2024-05-02 09:30 UTC: call back"
    assert entry["data"]["done"] is True

    published = (await timeline.outbox())[staged:]
    assert [p["envelope"]["type"] for p in published] == [ENTRY, INTERACTION, DATES]
    fact = InteractionRecorded.model_validate(published[1]["envelope"]["data"])
    assert (fact.interaction_id, fact.kind, fact.done, fact.due_at) == (uuid.UUID(first["id"]), "reminder", True, day(1))
    assert ContactDatesChanged.model_validate(published[2]["envelope"]["data"]).next_contact_at == day(4)

    again = await timeline.patch(first["id"], done=True)
    assert again.status_code == 200 and again.json() == body, "a repeat changes nothing"
    assert len(await timeline.outbox()) == staged + 3, "and publishes nothing"

    reopened = await timeline.patch(first["id"], done=False)
    assert reopened.json()["done"] is False and reopened.json()["done_at"] is None
    assert (await timeline.contact_dates(cid))["next_contact_at"] == iso(day(1))


async def test_moving_a_reminder_moves_the_next_contact(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    reminder = await remind(timeline, cid, day(1))
    moved = await timeline.patch(reminder["id"], due_at=iso(day(6)))
    assert moved.status_code == 200, moved.text
    assert moved.json()["due_at"] == iso(day(6))
    assert (await timeline.contact_dates(cid))["next_contact_at"] == iso(day(6))


async def meeting(timeline: Timeline, cid: uuid.UUID, at: datetime) -> dict[str, Any]:
    response = await timeline.post(customer_id=str(cid), kind="meeting", outcome="scheduled", scheduled_at=iso(at), summary="demo")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_meeting_held_is_the_last_contact_and_a_conversation_fact(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    held_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    booked = await meeting(timeline, cid, held_at)
    assert await timeline.contact_dates(cid) == {"customer_id": str(cid), "last_contact_at": None, "next_contact_at": iso(held_at)}
    staged = len(await timeline.outbox())

    held = await timeline.patch(booked["id"], outcome="held")

    assert held.status_code == 200, held.text
    assert (held.json()["outcome"], held.json()["occurred_at"]) == ("held", iso(held_at)), "held at its (past) scheduled time"
    assert await timeline.contact_dates(cid) == {"customer_id": str(cid), "last_contact_at": iso(held_at), "next_contact_at": None}
    (entry,) = await timeline.timeline(cid)
    assert (entry["occurred_at"], entry["data"]["outcome"]) == (iso(held_at), "held")
    assert entry["summary"].startswith("Meeting (held) for ")
    published = (await timeline.outbox())[staged:]
    assert [p["envelope"]["type"] for p in published] == [ENTRY, INTERACTION, DATES]
    fact = InteractionRecorded.model_validate(published[1]["envelope"]["data"])
    assert (fact.kind, fact.outcome, fact.occurred_at) == ("meeting", "held", held_at), "customer-svc reads it as a conversation"


async def test_a_meeting_held_at_a_given_time_or_early(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    future = await meeting(timeline, cid, datetime.now(UTC) + timedelta(days=1))
    before = datetime.now(UTC)
    early = await timeline.patch(future["id"], outcome="held")
    assert before <= datetime.fromisoformat(early.json()["occurred_at"]) <= datetime.now(UTC), "held before its time: now"

    other = await meeting(timeline, cid, day(10))
    told = await timeline.patch(other["id"], outcome="held", occurred_at=iso(day(9)))
    assert told.json()["occurred_at"] == iso(day(9))
    corrected = await timeline.patch(other["id"], occurred_at=iso(day(8)))
    assert corrected.json()["occurred_at"] == iso(day(8))


async def test_cancelling_or_moving_a_meeting_moves_the_next_contact(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    soon = await meeting(timeline, cid, day(1))
    await meeting(timeline, cid, day(3))
    await remind(timeline, cid, day(5))
    assert (await timeline.contact_dates(cid))["next_contact_at"] == iso(day(1))

    cancelled = await timeline.patch(soon["id"], outcome="cancelled")
    assert cancelled.status_code == 200 and cancelled.json()["occurred_at"] == soon["occurred_at"]
    assert (await timeline.contact_dates(cid))["next_contact_at"] == iso(day(3))
    assert (await timeline.timeline(cid))[-1]["summary"].startswith("Meeting (cancelled)")

    again = await timeline.patch(soon["id"], outcome="scheduled", scheduled_at=iso(day(2)))
    assert again.status_code == 200, again.text
    assert (await timeline.contact_dates(cid))["next_contact_at"] == iso(day(2))


@pytest.mark.parametrize(
    ("kind", "body", "fields"),
    [
        ("call", {"done": True}, {"done"}),
        ("call", {"outcome": "answered"}, {"outcome"}),
        ("note", {"due_at": "2024-05-01T09:30:00Z"}, {"due_at"}),
        ("reminder", {"outcome": "held"}, {"outcome"}),
        ("reminder", {"scheduled_at": "2024-05-01T09:30:00Z"}, {"scheduled_at"}),
        ("meeting", {"done": True}, {"done"}),
        ("meeting", {"outcome": "answered"}, {"outcome"}),
        ("meeting", {"occurred_at": "2024-05-01T09:30:00Z"}, {"occurred_at"}),
        ("meeting", {"outcome": "cancelled", "occurred_at": "2024-05-01T09:30:00Z"}, {"occurred_at"}),
        ("meeting", {}, {"body"}),
        ("meeting", {"summary": "edited"}, {"summary"}),
        ("meeting", {"scheduled_at": "2024-05-01T09:30:00"}, {"scheduled_at"}),
        ("meeting", {"outcome": ""}, {"outcome"}),
    ],
)
async def test_changes_a_kind_does_not_take_are_422_problems(timeline: Timeline, kind: str, body: dict[str, Any], fields: set[str]) -> None:
    values = {"reminder": {"due_at": iso(day(1))}, "meeting": {"outcome": "scheduled", "scheduled_at": iso(day(1))}}.get(kind, {})
    made = await timeline.post(customer_id=str(uuid.uuid4()), kind=kind, **values)
    staged = len(await timeline.outbox())

    response = await timeline.patch(made.json()["id"], **body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == fields
    assert (await timeline.http.get(f"/v1/interactions/{made.json()['id']}")).json() == made.json()
    assert len(await timeline.outbox()) == staged


async def test_changing_an_unknown_interaction_is_a_404(timeline: Timeline) -> None:
    response = await timeline.patch(uuid.uuid4(), done=True)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_reminder_of_a_merged_card_is_changed_where_it_now_lives(timeline: Timeline) -> None:
    from .test_merges import merge

    survivor, merged = uuid.uuid4(), uuid.uuid4()
    reminder = await remind(timeline, merged, day(2))
    await merge(timeline, survivor, merged)
    assert (await timeline.contact_dates(survivor))["next_contact_at"] == iso(day(2))

    done = await timeline.patch(reminder["id"], done=True)

    assert done.json()["customer_id"] == str(survivor) and done.json()["original_customer_id"] == str(merged)
    assert (await timeline.contact_dates(survivor))["next_contact_at"] is None
