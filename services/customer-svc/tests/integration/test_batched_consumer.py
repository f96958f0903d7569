"""The consumer's hot handlers take a run of events set-based: the same cards, owners and
published events as one at a time, and no deadlock when two transactions change the same cards
in opposite orders (two instances, or two topics' partitions of one instance)."""

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import text

from crm_contracts.events import Decision, DecisionMade, LeadAssigned, LeadTransferred, TimelineEntryRecorded
from crm_contracts.leads import ChannelKind, ChannelRef, Lead

from .conftest import Customers

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
CHANNEL = ChannelRef(key="dev-web-key", kind=ChannelKind.WEB, name="web", duplicate_policy="enrich")


def _decision(kind: Decision, customer_id: uuid.UUID, lead: Lead) -> DecisionMade:
    return DecisionMade(submission_id=uuid.uuid4(), decision=kind, customer_id=customer_id, channel=CHANNEL, lead=lead)


def _assigned(customer_id: uuid.UUID, owner_id: uuid.UUID) -> LeadAssigned:
    return LeadAssigned(customer_id=customer_id, owner_id=owner_id, rule_id=None, strategy="round_robin", reason="r", assigned_at=NOW)


def _moved(customer_id: uuid.UUID, owner_id: uuid.UUID) -> LeadTransferred:
    return LeadTransferred(
        customer_id=customer_id,
        transfer_id=uuid.uuid4(),
        from_owner_id=None,
        to_owner_id=owner_id,
        reason="r",
        actor="x",
        transferred_at=NOW,
    )


def _entry(customer_id: uuid.UUID, summary: str, at: datetime) -> TimelineEntryRecorded:
    return TimelineEntryRecorded(customer_id=customer_id, entry_id=uuid.uuid4(), kind="note", occurred_at=at, summary=summary)


async def _cards(customers: Customers, n: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    await customers.deliver_batch([(_decision(Decision.CREATE, i, Lead(last_name=f"Card {k}")), "main") for k, i in enumerate(ids)])
    return ids


async def _rows(customers: Customers, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    async with customers.container.runtime.sessions() as session:
        rows = await session.execute(
            text("SELECT id, owner_id, last_event_summary, status, tags FROM customers WHERE id = ANY(:ids)"), {"ids": ids}
        )
        return {r.id: r for r in rows}


async def _published(customers: Customers, ids: list[uuid.UUID]) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of every customer event staged about `ids`, in outbox order, with each
    card's id replaced by its position in `ids` (so two sets of cards compare)."""
    position = {str(i): k for k, i in enumerate(ids)}
    found = []
    for key, envelope in await customers.outbox("crm.customer.events.v1"):
        if key in position:
            data = {k: v for k, v in envelope["data"].items() if k not in ("customer_id", "submission_id", "duplicate_lead_id", "customer")}
            if "reason" in data:  # names the submission
                data["reason"] = re.sub(r"[0-9a-f-]{36}", "<submission>", data["reason"])
            if "customer" in envelope["data"]:
                card = envelope["data"]["customer"]
                data["customer"] = {k: card[k] for k in ("status", "tags", "last_name", "phones", "owner_id")}
            found.append((envelope["type"], {"card": position[key], **data}))
    return found


async def test_a_run_of_owner_changes_gives_the_owners_and_events_of_one_at_a_time(customers: Customers) -> None:
    one, run = await _cards(customers, 4), await _cards(customers, 4)
    o1, o2, o3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def script(cards: list[uuid.UUID]) -> list[tuple[BaseModel, str]]:
        a, b, c, d = cards
        return [
            (_assigned(c, o1), "main"),
            (_assigned(a, o1), "main"),
            (_assigned(b, o2), "main"),
            (_assigned(a, o2), "main"),  # a card twice in a run: its previous owner is the run's o1
            (_assigned(b, o2), "main"),  # the same owner again: no event
            (_moved(d, o3), "main"),
            (_moved(d, o3), "main"),
            (_moved(a, o3), "main"),
        ]

    for payload, workspace in script(one):
        await customers.deliver(payload, workspace=workspace)
    await customers.deliver_batch(script(run))  # runs of LeadAssigned and of LeadTransferred

    by_one, by_run = await _rows(customers, one), await _rows(customers, run)
    assert [by_one[i].owner_id for i in one] == [by_run[i].owner_id for i in run] == [o3, o2, o1, o3]
    events_one = await _published(customers, one)
    owner_events = [e for e in events_one if e[0] == "crm.customer.owner_assigned.v1"]
    assert len(owner_events) == 6
    assert [e[1]["card"] for e in owner_events] == [2, 0, 1, 0, 3, 0]
    assert await _published(customers, run) == events_one


async def test_a_run_of_decisions_gives_the_cards_and_events_of_one_at_a_time(customers: Customers) -> None:
    one, run = [uuid.uuid4(), uuid.uuid4()], [uuid.uuid4(), uuid.uuid4()]
    await customers.deliver(_decision(Decision.CREATE, one[1], Lead(last_name="Old")))
    await customers.deliver(_decision(Decision.CREATE, run[1], Lead(last_name="Old")))
    async with customers.container.runtime.sessions() as session, session.begin():
        await session.execute(text("UPDATE customers SET status = 'lost' WHERE id = ANY(:ids)"), {"ids": [one[1], run[1]]})

    def script(cards: list[uuid.UUID]) -> list[tuple[BaseModel, str]]:
        new, old = cards
        return [
            (_decision(Decision.CREATE, new, Lead(last_name="New", phones=["050-1111111"])), "main"),
            (_decision(Decision.ENRICH, new, Lead(last_name="New", tags=["t1"])), "main"),  # a card created in the run
            (_decision(Decision.DUPLICATE_LEAD, old, Lead(last_name="Again")), "main"),
            (_decision(Decision.RENEW, old, Lead(last_name="Old", tags=["t2"])), "main"),  # lost → new
            (_decision(Decision.ENRICH, old, Lead(last_name="Old", emails=["old@example.com"])), "main"),
            (_decision(Decision.CREATE, new, Lead(last_name="New")), "main"),  # a redelivered creation: nothing
        ]

    for payload, workspace in script(one):
        await customers.deliver(payload, workspace=workspace)
    await customers.deliver_batch(script(run))

    by_one, by_run = await _rows(customers, one), await _rows(customers, run)
    assert [(by_one[i].status, by_one[i].tags) for i in one] == [(by_run[i].status, by_run[i].tags) for i in run]
    assert [by_run[i].tags for i in run] == [["t1"], ["t2"]] and by_run[run[1]].status == "new"
    events_one = await _published(customers, one)
    assert [t.rsplit(".", 2)[1] for t, _ in events_one] == [
        "created",
        "created",
        "enriched",
        "duplicate_lead_recorded",
        "enriched",
        "status_changed",
        "enriched",
    ]
    assert await _published(customers, run) == events_one


async def test_two_batches_changing_the_same_cards_in_opposite_orders_both_commit(customers: Customers) -> None:
    """Owner assignments (allocation's topic) and timeline entries (timeline's topic), or two
    instances applying the same kind of run, each in their own transaction, on the same cards
    in opposite orders: they queue up on the first card (locks in id order), none deadlocks."""
    cards = await _cards(customers, 120)
    owner = uuid.uuid4()
    forwards, backwards = cards, cards[::-1]
    owners_forwards = [customers.consumed(_assigned(c, owner), "main", None) for c in forwards]
    owners_backwards = [customers.consumed(_assigned(c, owner), "main", None) for c in backwards]
    entries_backwards = [customers.consumed(_entry(c, "late", NOW + timedelta(minutes=1)), "main", None) for c in backwards]
    entries_forwards = [customers.consumed(_entry(c, "early", NOW), "main", None) for c in forwards]

    for first, second in ((owners_forwards, entries_backwards), (owners_backwards, owners_forwards), (entries_forwards, entries_backwards)):
        # Both transactions open at once; the first holds its locks until the other is waiting.
        async with customers.container.runtime.sessions() as s1, s1.begin():
            await customers.apply(first, s1)
            other = asyncio.create_task(customers.apply(second))
            await asyncio.sleep(0.3)
            assert not other.done()  # waiting on the first card's lock
        await asyncio.wait_for(other, 30)  # no deadlock error: it commits after the first

    # And both at the same time, many times: every run commits.
    for _ in range(3):
        await asyncio.gather(customers.apply(owners_backwards), customers.apply(entries_forwards), customers.apply(entries_backwards))
    rows = await _rows(customers, cards)
    assert {r.owner_id for r in rows.values()} == {owner}
    assert {r.last_event_summary for r in rows.values()} == {"late"}  # the newer entry, whatever came last
