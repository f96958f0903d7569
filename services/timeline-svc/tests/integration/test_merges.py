"""A merge moves the merged cards' timelines under the survivor; an undo moves exactly
those rows back (DESIGN 4.7), against a real PostgreSQL."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crm_contracts.envelope import Envelope
from crm_contracts.events import ContactDatesChanged, CustomerCreated, CustomerMerged, CustomerUnmerged

from .conftest import Timeline, card

pytestmark = pytest.mark.integration

DATES = "crm.timeline.contact_dates_changed.v1"

Placement = dict[tuple[str, uuid.UUID], tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]]


def utc(month: int, day: int) -> datetime:
    return datetime(2024, month, day, 10, 0, tzinfo=UTC)


# What each card's own history says (last contact, next contact).
HISTORY = {
    "A": ({"kind": "call", "outcome": "answered", "occurred_at": utc(5, 1)}, {"kind": "reminder", "due_at": utc(6, 10)}),
    "B": ({"kind": "email", "occurred_at": utc(5, 3)}, {"kind": "meeting", "outcome": "scheduled", "scheduled_at": utc(6, 5)}),
    "C": ({"kind": "whatsapp", "occurred_at": utc(5, 2)}, {"kind": "reminder", "due_at": utc(6, 20)}),
}


async def seed(timeline: Timeline, name: str, number: int) -> uuid.UUID:
    """A card with a `created` entry and two interactions (a contact and an appointment)."""
    cid = uuid.uuid4()
    await timeline.consume(CustomerCreated(customer=card(cid, number, first_name=name), channel_kind="ui"), cid)
    for body in HISTORY[name]:
        response = await timeline.post(
            customer_id=str(cid), **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in body.items()}
        )
        assert response.status_code == 201, response.text
    return cid


async def seed_all(timeline: Timeline) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    return await seed(timeline, "A", 500_001), await seed(timeline, "B", 500_002), await seed(timeline, "C", 500_003)


async def placement(timeline: Timeline) -> Placement:
    rows = await timeline.rows(
        "SELECT 'entry' AS item, id, customer_id, original_customer_id, merge_id FROM entries"
        " UNION ALL SELECT 'interaction', id, customer_id, original_customer_id, merge_id FROM interactions"
    )
    return {(r.item, r.id): (r.customer_id, r.original_customer_id, r.merge_id) for r in rows}


def restricted(now: Placement, before: Placement) -> Placement:
    return {k: v for k, v in now.items() if k in before}


def on(place: Placement, customer_id: uuid.UUID) -> set[tuple[str, uuid.UUID]]:
    return {k for k, (cid, _, _) in place.items() if cid == customer_id}


async def dates(timeline: Timeline, customer_id: uuid.UUID) -> tuple[datetime | None, datetime | None]:
    d = await timeline.contact_dates(customer_id)
    return tuple(datetime.fromisoformat(v) if v else None for v in (d["last_contact_at"], d["next_contact_at"]))  # type: ignore[return-value]


async def published_dates(timeline: Timeline, last: int) -> dict[uuid.UUID, ContactDatesChanged]:
    """The `last` ContactDatesChanged staged, by customer (each keyed and about that customer)."""
    staged = (await timeline.outbox(DATES))[-last:]
    assert all(s["key"] == s["envelope"]["subject"] == s["envelope"]["data"]["customer_id"] for s in staged)
    return {(d := ContactDatesChanged.model_validate(s["envelope"]["data"])).customer_id: d for s in staged}


async def merge(timeline: Timeline, survivor: uuid.UUID, *merged: uuid.UUID) -> tuple[uuid.UUID, Envelope]:
    merge_id = uuid.uuid4()
    payload = CustomerMerged(merge_id=merge_id, survivor_id=survivor, merged_ids=list(merged), survivor=card(survivor))
    return merge_id, await timeline.consume(payload, survivor)


async def unmerge(timeline: Timeline, merge_id: uuid.UUID, survivor: uuid.UUID, *restored: uuid.UUID) -> Envelope:
    payload = CustomerUnmerged(merge_id=merge_id, survivor_id=survivor, restored=[card(c, 500_100 + i) for i, c in enumerate(restored)])
    return await timeline.consume(payload, survivor)


async def redeliver(timeline: Timeline, event: Envelope) -> None:
    """The same event again, as if the inbox had not caught it: nothing may change."""
    place, staged = await placement(timeline), len(await timeline.outbox())
    model: Any = CustomerMerged if event.type == "crm.customer.merged.v1" else CustomerUnmerged
    await timeline.consume(model.model_validate(event.data), uuid.UUID(event.subject or ""), event=event)
    assert await placement(timeline) == place
    assert len(await timeline.outbox()) == staged


async def test_merge_then_undo_moves_entries_and_interactions_there_and_back(timeline: Timeline) -> None:
    a, b = await seed(timeline, "A", 500_001), await seed(timeline, "B", 500_002)
    before = await placement(timeline)
    own_a, own_b = on(before, a), on(before, b)
    assert len(own_b) == 5  # created + 2 interactions, each with its entry

    merge_id, merged = await merge(timeline, a, b)

    place = await placement(timeline)
    assert {k: place[k] for k in own_b} == {k: (a, b, merge_id) for k in own_b}
    assert {k: place[k] for k in own_a} == {k: before[k] for k in own_a}
    assert await timeline.timeline(b) == []
    survivor = await timeline.timeline(a)
    assert [e["kind"] for e in survivor if e["kind"] == "merged"] == ["merged"]
    assert {e["id"] for e in survivor if e["original_customer_id"] == str(b)} == {str(i) for kind, i in own_b if kind == "entry"}
    interaction_id = next(i for kind, i in own_b if kind == "interaction")
    moved = (await timeline.http.get(f"/v1/interactions/{interaction_id}")).json()
    assert (moved["customer_id"], moved["original_customer_id"]) == (str(a), str(b))
    assert await dates(timeline, a) == (utc(5, 3), utc(6, 5))
    assert await dates(timeline, b) == (None, None)
    assert await published_dates(timeline, 2) == {
        a: ContactDatesChanged(customer_id=a, last_contact_at=utc(5, 3), next_contact_at=utc(6, 5)),
        b: ContactDatesChanged(customer_id=b),
    }
    await redeliver(timeline, merged)

    undone = await unmerge(timeline, merge_id, a, b)

    assert restricted(await placement(timeline), before) == before
    assert await dates(timeline, a) == (utc(5, 1), utc(6, 10))
    assert await dates(timeline, b) == (utc(5, 3), utc(6, 5))
    assert await published_dates(timeline, 2) == {
        a: ContactDatesChanged(customer_id=a, last_contact_at=utc(5, 1), next_contact_at=utc(6, 10)),
        b: ContactDatesChanged(customer_id=b, last_contact_at=utc(5, 3), next_contact_at=utc(6, 5)),
    }
    assert [e["kind"] for e in await timeline.timeline(a) if e["kind"] in ("merged", "unmerged")] == ["unmerged", "merged"]
    await redeliver(timeline, undone)
    assert await timeline.scalar("SELECT count(*) FROM moves") == 0
    assert await timeline.scalar("SELECT count(*) FROM merges") == 0


async def test_two_level_merge_undone_in_reverse_order(timeline: Timeline) -> None:
    a, b, c = await seed_all(timeline)
    before = await placement(timeline)
    own_a, own_b, own_c = on(before, a), on(before, b), on(before, c)

    m1, _ = await merge(timeline, a, b)  # A ← B
    after_m1 = await placement(timeline)
    m2, second = await merge(timeline, c, a)  # C ← A (holding B's rows)

    place = await placement(timeline)
    assert on(place, a) == on(place, b) == set()
    assert {k: place[k] for k in own_b} == {k: (c, b, m2) for k in own_b}, "first original kept, latest merge recorded"
    assert {k: place[k] for k in own_a} == {k: (c, a, m2) for k in own_a}
    assert {k: place[k] for k in own_c} == {k: before[k] for k in own_c}
    m1_entry = next(k for k in after_m1 if k not in before)  # the "merged" entry of m1, on A
    assert place[m1_entry] == (c, a, m2)
    assert await dates(timeline, c) == (utc(5, 3), utc(6, 5))
    assert await dates(timeline, a) == await dates(timeline, b) == (None, None)
    await redeliver(timeline, second)

    await unmerge(timeline, m2, c, a)

    assert restricted(await placement(timeline), after_m1) == after_m1
    assert await dates(timeline, a) == (utc(5, 3), utc(6, 5))
    assert await dates(timeline, c) == (utc(5, 2), utc(6, 20))

    await unmerge(timeline, m1, a, b)

    assert restricted(await placement(timeline), before) == before
    for cid, name in ((a, "A"), (b, "B"), (c, "C")):
        contact, appointment = HISTORY[name]
        assert await dates(timeline, cid) == (contact["occurred_at"], appointment.get("due_at") or appointment["scheduled_at"])
    assert await timeline.scalar("SELECT count(*) FROM moves") == 0


async def test_undo_out_of_order_sends_each_row_back_to_the_card_it_left(timeline: Timeline) -> None:
    a, b, c = await seed_all(timeline)
    before = await placement(timeline)
    own_a, own_b = on(before, a), on(before, b)
    m1, _ = await merge(timeline, a, b)
    m2, _ = await merge(timeline, c, a)

    await unmerge(timeline, m1, a, b)  # B comes back while A is still merged into C

    place = await placement(timeline)
    assert {k: place[k] for k in own_b} == {k: before[k] for k in own_b}
    assert {k: place[k] for k in own_a} == {k: (c, a, m2) for k in own_a}
    assert await dates(timeline, b) == (utc(5, 3), utc(6, 5))
    assert await dates(timeline, c) == (utc(5, 2), utc(6, 10))

    await unmerge(timeline, m2, c, a)

    assert restricted(await placement(timeline), before) == before
    assert await dates(timeline, a) == (utc(5, 1), utc(6, 10))
    assert await dates(timeline, b) == (utc(5, 3), utc(6, 5))


async def test_an_interaction_for_a_merged_card_follows_its_rows(timeline: Timeline) -> None:
    a, b, c = await seed_all(timeline)
    m1, _ = await merge(timeline, a, b)
    m2, _ = await merge(timeline, c, a)

    late = await timeline.post(
        customer_id=str(b), kind="call", outcome="answered", occurred_at=utc(5, 30).isoformat(), external_id="pbx-late"
    )

    assert late.status_code == 201, late.text
    assert (late.json()["customer_id"], late.json()["original_customer_id"]) == (str(c), str(b))
    iid = uuid.UUID(late.json()["id"])
    staged = (await timeline.outbox())[-3:]
    assert {s["key"] for s in staged} == {str(c)}
    assert await dates(timeline, c) == (utc(5, 30), utc(6, 5))
    assert (await timeline.post(customer_id=str(b), kind="call", external_id="pbx-late")).status_code == 200

    await unmerge(timeline, m2, c, a)
    place = await placement(timeline)
    assert place[("interaction", iid)] == place[("entry", iid)] == (a, b, m1)
    assert await dates(timeline, a) == (utc(5, 30), utc(6, 5))

    await unmerge(timeline, m1, a, b)
    place = await placement(timeline)
    assert place[("interaction", iid)] == place[("entry", iid)] == (b, None, None)
    assert await dates(timeline, b) == (utc(5, 30), utc(6, 5))
    assert await dates(timeline, a) == (utc(5, 1), utc(6, 10))


async def test_merging_several_cards_at_once(timeline: Timeline) -> None:
    a, b, c = await seed_all(timeline)
    before = await placement(timeline)

    merge_id, _ = await merge(timeline, a, b, c, a)  # the survivor listed too, and a repeat: both ignored

    place = await placement(timeline)
    assert on(place, b) == on(place, c) == set()
    assert {k: place[k][1:] for k in on(before, b)} == {k: (b, merge_id) for k in on(before, b)}
    assert {k: place[k][1:] for k in on(before, c)} == {k: (c, merge_id) for k in on(before, c)}
    assert await dates(timeline, a) == (utc(5, 3), utc(6, 5))

    await unmerge(timeline, merge_id, a, b, c)

    assert restricted(await placement(timeline), before) == before


async def test_interactions_arriving_during_a_merge_all_end_up_on_the_survivor(timeline: Timeline) -> None:
    a, b = await seed(timeline, "A", 500_001), await seed(timeline, "B", 500_002)
    posts = [timeline.post(customer_id=str(b), kind="sms", occurred_at=utc(5, 10 + i).isoformat()) for i in range(16)]

    results = await asyncio.gather(*posts[:8], merge(timeline, a, b), *posts[8:])

    assert all(r.status_code == 201 for r in results if isinstance(r, httpx.Response))
    place = await placement(timeline)
    assert on(place, b) == set()
    assert await timeline.scalar("SELECT count(*) FROM interactions WHERE customer_id = :a", a=a) == 2 + 2 + 16
    assert await dates(timeline, a) == (utc(5, 25), utc(6, 5))
    assert await dates(timeline, b) == (None, None)
