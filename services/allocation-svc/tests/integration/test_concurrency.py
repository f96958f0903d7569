"""Several instances (each its own engine and pool) assigning at once on one database: the
per-workspace advisory lock makes cursors, capacities and exactly-once hold as for one instance."""

import asyncio
from collections import Counter
from uuid import UUID

import pytest
from sqlalchemy import text

from crm_contracts.events import CustomerSnapshot, CustomerStatusChanged

from .conftest import Allocation, batches, card, deliver

pytestmark = pytest.mark.integration

ASSIGNED = "crm.allocation.lead_assigned.v1"
QUEUED = "crm.allocation.lead_queued.v1"


def leads(count: int, first: int = 600_000) -> list[CustomerSnapshot]:
    return [card(first + i) for i in range(count)]


async def counts(a: Allocation) -> dict[str, int]:
    return {
        "assignments": await a.scalar("SELECT count(*) FROM assignments"),
        "history": await a.scalar("SELECT count(*) FROM assignment_history"),
        "assigned_events": await a.scalar("SELECT count(*) FROM outbox WHERE envelope->>'type' = :t", t=ASSIGNED),
        "assigned_cards": await a.scalar(
            "SELECT count(DISTINCT envelope->>'subject') FROM outbox WHERE envelope->>'type' = :t", t=ASSIGNED
        ),
        "queued": await a.scalar("SELECT count(*) FROM queue"),
    }


async def queue_order(a: Allocation) -> list[UUID]:
    async with a.sessions() as session:
        rows = await session.execute(text("SELECT customer_id FROM queue ORDER BY queued_at, customer_id"))
    return [r.customer_id for r in rows]


async def test_round_robin_over_concurrent_instances_assigns_each_lead_once_and_rotates_exactly(instances: list[Allocation]) -> None:
    a = instances[0]
    reps = [await a.rep(n) for n in ("Avi", "Batya", "Chen")]
    await a.rule("everyone", strategy="round_robin")
    new = leads(90)
    await deliver(instances, batches(new, 3))
    owners = await a.owners()
    assert set(owners) == {c.id for c in new}
    assert await counts(a) == {"assignments": 90, "history": 90, "assigned_events": 90, "assigned_cards": 90, "queued": 0}
    assert await a.scalar("SELECT cursor FROM rules") == 90
    # the cursor is serialised across instances: the rotation is exact, not merely close
    assert Counter(owners.values()) == {UUID(r["id"]): 30 for r in reps}
    listed = {r["id"]: r for r in (await a.http.get("/v1/reps")).json()["items"]}
    assert {r["assigned_today"] for r in listed.values()} == {30}
    assert {r["open_leads"] for r in listed.values()} == {30}


async def test_the_same_cards_delivered_to_several_instances_at_once_are_assigned_and_published_once(instances: list[Allocation]) -> None:
    a = instances[0]
    await a.rep("Avi")
    await a.rep("Batya")
    await a.rule("everyone")
    lead = card()
    # a rebalance: the partition's new owner redelivers what the old one is still applying
    await asyncio.gather(instances[0].created(lead), instances[1].created(lead))
    assert list(await a.owners()) == [lead.id]
    assert await counts(a) == {"assignments": 1, "history": 1, "assigned_events": 1, "assigned_cards": 1, "queued": 0}
    assert await a.scalar("SELECT cursor FROM rules") == 1
    # a whole batch redelivered to every instance at once
    run = leads(20)
    await asyncio.gather(*(i.created(*run) for i in instances))
    assert len(await a.owners()) == 21
    assert await counts(a) == {"assignments": 21, "history": 21, "assigned_events": 21, "assigned_cards": 21, "queued": 0}
    assert await a.scalar("SELECT cursor FROM rules") == 21


async def test_a_lead_no_rep_can_take_delivered_to_every_instance_at_once_is_queued_and_announced_once(instances: list[Allocation]) -> None:
    a = instances[0]
    await a.rep("Avi", available=False)
    await a.rule("everyone")
    lead = card()
    await asyncio.gather(*(i.created(lead) for i in instances))
    assert await a.owners() == {}
    assert await a.scalar("SELECT count(*) FROM queue") == 1
    assert len(await a.outbox(QUEUED)) == 1


async def test_a_redelivered_run_racing_a_drain_on_another_instance_neither_deadlocks_nor_assigns_twice(
    instances: list[Allocation],
) -> None:
    a, b = instances[0], instances[1]
    rep = await a.rep("Avi", available=False)
    await a.rule("everyone")
    waiting = leads(50)
    await a.created(*waiting)
    assert await a.scalar("SELECT count(*) FROM queue") == 50
    # the rep comes back (a drain on one instance) while another redelivers the same cards
    back, *_ = await asyncio.gather(
        a.http.patch(f"/v1/reps/{rep['id']}", json={"available": True}),
        *(b.created(*run) for run in batches(waiting, 5)),
    )
    assert back.status_code == 200, back.text
    assert set(await a.owners()) == {c.id for c in waiting}
    assert await counts(a) == {"assignments": 50, "history": 50, "assigned_events": 50, "assigned_cards": 50, "queued": 0}
    assert len(await a.outbox(QUEUED)) == 50


async def test_open_lead_capacity_holds_under_concurrency_and_a_raise_drains_the_oldest_waiting_leads(instances: list[Allocation]) -> None:
    a = instances[0]
    reps = [await a.rep(n, capacity=5) for n in ("Avi", "Batya", "Chen")]
    await a.rule("everyone")
    new = leads(40)
    await deliver(instances, batches(new, 2))
    owners = await a.owners()
    assert len(owners) == 15
    assert Counter(owners.values()) == {UUID(r["id"]): 5 for r in reps}
    assert await counts(a) == {"assignments": 15, "history": 15, "assigned_events": 15, "assigned_cards": 15, "queued": 25}
    queued = (await a.http.get("/v1/queue")).json()["items"]
    assert len(queued) == 25 and {q["customer_id"] for q in queued} == {str(c.id) for c in new} - {str(i) for i in owners}
    assert all("at capacity 5/5 open leads" in q["reason"] for q in queued)
    assert len(await a.outbox(QUEUED)) == 25
    waiting = await queue_order(a)

    avi = reps[0]["id"]
    raised = await a.http.patch(f"/v1/reps/{avi}", json={"capacity": 8})
    assert raised.status_code == 200, raised.text
    assert raised.json()["open_leads"] == 8 and raised.json()["available_now"] is False
    owners = await a.owners()
    drained = {c for c, o in owners.items() if o == UUID(avi) and c in waiting}
    assert drained == set(waiting[:3])  # the oldest three, in queue order
    assert Counter(owners.values())[UUID(avi)] == 8
    assert await a.scalar("SELECT count(*) FROM queue") == 22
    kinds = Counter(e["envelope"]["data"]["kind"] for e in await a.outbox(ASSIGNED))
    assert kinds == {"automatic": 15, "queue": 3}


async def test_waiting_leads_leave_the_queue_in_arrival_order(allocation: Allocation) -> None:
    rep = await allocation.rep("Avi", capacity=0)
    await allocation.rule("everyone")
    first, second, third = leads(3)
    await allocation.created(first, second, third)  # one run: one transaction, one decision time
    await allocation.created(*leads(2, first=700_000))
    assert await allocation.scalar("SELECT count(*) FROM queue") == 5
    await allocation.http.patch(f"/v1/reps/{rep['id']}", json={"capacity": 2})
    assert set(await allocation.owners()) == {first.id, second.id}
    await allocation.http.patch(f"/v1/reps/{rep['id']}", json={"capacity": 3})
    assert set(await allocation.owners()) == {first.id, second.id, third.id}


async def test_closing_leads_frees_open_capacity_for_drains_from_several_instances(instances: list[Allocation]) -> None:
    a = instances[0]
    rep = await a.rep("Avi", capacity=3)
    await a.rule("everyone")
    new = leads(10)
    await deliver(instances, batches(new, 1))
    owned = list(await a.owners())
    assert len(owned) == 3
    await a.consume(
        [CustomerStatusChanged(customer_id=c, status="not_interested", previous_status="new", cause="manual") for c in owned[:2]]
    )
    # every instance's drain loop wakes at once
    drained = await asyncio.gather(*(i.container.drainer.drain("main") for i in instances))
    assert sum(drained) == 2
    owners = await a.owners()
    assert len(owners) == 5 and set(owners.values()) == {UUID(rep["id"])}
    assert await counts(a) == {"assignments": 5, "history": 5, "assigned_events": 5, "assigned_cards": 5, "queued": 5}
    listed = (await a.http.get(f"/v1/reps/{rep['id']}")).json()
    assert (listed["open_leads"], listed["assigned_today"], listed["available_now"]) == (3, 5, False)


async def test_daily_capacity_holds_under_concurrency_and_closing_leads_does_not_free_it(instances: list[Allocation]) -> None:
    a = instances[0]
    reps = [await a.rep(n, daily_capacity=4) for n in ("Avi", "Batya", "Chen")]
    await a.rule("everyone")
    new = leads(20)
    await deliver(instances, batches(new, 2))
    owners = await a.owners()
    assert Counter(owners.values()) == {UUID(r["id"]): 4 for r in reps}
    assert await counts(a) == {"assignments": 12, "history": 12, "assigned_events": 12, "assigned_cards": 12, "queued": 8}
    queued = (await a.http.get("/v1/queue")).json()["items"]
    assert all("at daily capacity 4/4 new leads today" in q["reason"] for q in queued)
    # closed leads free open capacity, never today's count
    await a.consume([CustomerStatusChanged(customer_id=c, status="not_interested", previous_status="new", cause="manual") for c in owners])
    assert sum(await asyncio.gather(*(i.container.drainer.drain("main") for i in instances))) == 0
    assert len(await a.owners()) == 12
    batya = reps[1]["id"]
    raised = await a.http.patch(f"/v1/reps/{batya}", json={"daily_capacity": 6})
    assert raised.status_code == 200, raised.text
    assert (raised.json()["assigned_today"], raised.json()["open_leads"]) == (6, 2)
    assert raised.json()["unavailable_reason"] == "at daily capacity 6/6 new leads today"
    assert Counter((await a.owners()).values())[UUID(batya)] == 6
    assert await a.scalar("SELECT count(*) FROM queue") == 6


async def test_weighted_split_is_exact_over_concurrent_instances(instances: list[Allocation]) -> None:
    a = instances[0]
    reps = [await a.rep(n, weight=w) for n, w in (("Avi", 1), ("Batya", 2), ("Chen", 3))]
    await a.rule("weighted", strategy="weighted")
    await deliver(instances, batches(leads(600), 10))
    owners = await a.owners()
    assert len(owners) == 600
    assert Counter(owners.values()) == {UUID(reps[0]["id"]): 100, UUID(reps[1]["id"]): 200, UUID(reps[2]["id"]): 300}
    assert await a.scalar("SELECT cursor FROM rules") == 600
    assert await counts(a) == {"assignments": 600, "history": 600, "assigned_events": 600, "assigned_cards": 600, "queued": 0}
