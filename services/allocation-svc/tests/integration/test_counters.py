"""The reps' counters (`rep_loads`: open leads; `rep_days`: leads assigned per day) stay equal to
a recount over the projection and the history after every kind of change: automatic
assignments, status changes, transfers, the wizard, deletions, merges, erasure, rep
deactivation and deletion, owners set in customer-svc, and concurrent batches from several
instances (sessions) at once."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from allocation_svc.domain.cards import OPEN_STATUSES
from allocation_svc.service_layer.clock import Clock
from crm_contracts.events import (
    CustomerDeleted,
    CustomerErased,
    CustomerMerged,
    CustomerOwnerAssigned,
    CustomerRestored,
    CustomerStatusChanged,
)
from crm_runtime.migrations import alembic_config

from .conftest import SERVICE_ROOT, Allocation, batches, card, deliver

pytestmark = pytest.mark.integration


async def rows(a: Allocation, sql: str, **params: Any) -> dict[Any, int]:
    async with a.sessions() as session:
        return {tuple(r[:-1]) if len(r) > 2 else r[0]: r[-1] for r in await session.execute(text(sql), params)}


async def counters(a: Allocation) -> tuple[dict[Any, int], dict[Any, int]]:
    """(open leads by (workspace, rep), leads assigned today by rep): what the counters hold."""
    day = Clock(a.settings.day_timezone).day_start(datetime.now(UTC))
    opened = await rows(a, "SELECT workspace, rep_id, open_leads FROM rep_loads WHERE open_leads <> 0")
    today = await rows(a, "SELECT rep_id, assigned FROM rep_days WHERE day_start = :d AND assigned <> 0", d=day)
    return opened, today


async def recount(a: Allocation) -> tuple[dict[Any, int], dict[Any, int]]:
    """The same, counted over the cards and the history."""
    day = Clock(a.settings.day_timezone).day_start(datetime.now(UTC))
    opened = await rows(
        a,
        "SELECT workspace, owner_id, count(*) FROM cards WHERE owner_id IS NOT NULL AND NOT hidden AND status = ANY(:open)"
        " GROUP BY workspace, owner_id",
        open=list(OPEN_STATUSES),
    )
    today = await rows(a, "SELECT owner_id, count(*) FROM assignment_history WHERE assigned_at >= :d GROUP BY owner_id", d=day)
    return opened, today


async def assert_counted(a: Allocation) -> tuple[dict[Any, int], dict[Any, int]]:
    counted = await counters(a)
    assert counted == await recount(a)
    return counted


def status(card_id: UUID, to: str, before: str = "new") -> CustomerStatusChanged:
    return CustomerStatusChanged(customer_id=card_id, status=to, previous_status=before, cause="manual")


async def test_counters_follow_assignments_status_changes_and_the_projection(allocation: Allocation) -> None:
    a = allocation
    reps = [await a.rep(n) for n in ("Avi", "Batya", "Chen")]
    await a.rule("everyone", strategy="round_robin")
    leads = [card(700_000 + i) for i in range(12)]
    await a.created(*leads[:5])
    await a.created(*leads[5:])
    opened, today = await assert_counted(a)
    assert sorted(opened.values()) == [4, 4, 4] and sorted(today.values()) == [4, 4, 4]

    owners = await a.owners()
    await a.consume([status(leads[0].id, "not_interested"), status(leads[1].id, "follow_up")])
    await a.consume([status(leads[0].id, "new", "not_interested")])  # reopened
    await a.consume([status(leads[2].id, "customer")])
    await assert_counted(a)
    await a.consume([CustomerDeleted(customer_id=leads[3].id, workspace="main")])
    await a.consume([CustomerRestored(customer_id=leads[3].id, customer=leads[3].model_copy(update={"owner_id": owners[leads[3].id]}))])
    await a.consume([CustomerDeleted(customer_id=leads[4].id, workspace="main")])
    await a.consume(
        [CustomerMerged(merge_id=uuid.uuid4(), survivor_id=leads[5].id, merged_ids=[leads[5].id, leads[6].id], survivor=leads[5])]
    )
    await a.consume([CustomerErased(customer_id=leads[7].id, actor="admin")])
    # an owner set by a person in customer-svc (not an echo of ours)
    await a.consume([CustomerOwnerAssigned(customer_id=leads[8].id, owner_id=UUID(reps[0]["id"]), previous_owner_id=owners[leads[8].id])])
    opened, _ = await assert_counted(a)
    assert sum(opened.values()) == 12 - 4  # converted, deleted, merged away, erased (the closed one reopened, the deleted one restored)
    # the API shows the counters
    listed = {UUID(r["id"]): r["open_leads"] for r in (await a.http.get("/v1/reps")).json()["items"]}
    assert listed == {UUID(r["id"]): opened.get(("main", UUID(r["id"])), 0) for r in reps}


async def test_counters_follow_transfers_the_wizard_and_rep_deactivation_and_deletion(allocation: Allocation) -> None:
    a = allocation
    avi, batya, chen = [await a.rep(n) for n in ("Avi", "Batya", "Chen")]
    await a.rule("to Avi", strategy="fixed", fixed_rep_id=avi["id"])
    leads = [card(710_000 + i) for i in range(8)]
    await a.created(*leads)
    await assert_counted(a)

    moved = await a.http.post(
        "/v1/transfers", json={"customer_ids": [str(c.id) for c in leads[:3]], "to_rep_id": batya["id"], "reason": "r"}
    )
    assert moved.status_code in (200, 201), moved.text
    opened, today = await assert_counted(a)
    assert opened[("main", UUID(avi["id"]))] == 5 and opened[("main", UUID(batya["id"]))] == 3
    assert today[UUID(avi["id"])] == 8 and today[UUID(batya["id"])] == 3  # a transfer counts as a lead of the day

    # deactivating a rep changes no count; its leads stay its own until moved
    assert (await a.http.patch(f"/v1/reps/{avi['id']}", json={"available": False})).status_code == 200
    await assert_counted(a)
    moved = await a.http.post("/v1/transfers", json={"from_rep_id": avi["id"], "to_rep_id": chen["id"], "reason": "leave"})
    assert moved.status_code in (200, 201), moved.text
    opened, _ = await assert_counted(a)
    assert ("main", UUID(avi["id"])) not in opened and opened[("main", UUID(chen["id"]))] == 5

    # the wizard deals cards again; a deleted rep keeps the cards it owns counted until moved
    preview = await a.http.post("/v1/allocations/preview", json={"rep_ids": [avi["id"], batya["id"]], "include_unavailable": True})
    assert preview.status_code in (200, 201), preview.text
    applied = await a.http.post("/v1/allocations/apply", json={"preview_id": preview.json()["id"]})
    assert applied.status_code in (200, 201), applied.text
    await assert_counted(a)
    assert (await a.http.delete(f"/v1/reps/{batya['id']}")).status_code == 204
    opened, _ = await assert_counted(a)
    assert opened.get(("main", UUID(batya["id"])), 0) > 0


async def test_counters_stay_exact_under_concurrent_batches_from_several_sessions(instances: list[Allocation]) -> None:
    a = instances[0]
    await a.rep("Avi", capacity=25)
    await a.rep("Batya", daily_capacity=30)
    await a.rep("Chen")
    await a.rule("everyone", strategy="least_loaded")
    leads = [card(720_000 + i) for i in range(90)]
    await deliver(instances, batches(leads, 5))
    opened, today = await assert_counted(a)
    assert sorted(today.values()) == [25, 30, 35]  # least loaded, up to Avi's 25 open and Batya's 30 a day
    # and while statuses change in other sessions at the same time
    more = [card(721_000 + i) for i in range(30)]
    owned = list(await a.owners())
    await asyncio.gather(
        deliver(instances[1:], batches(more, 5)),
        *(a.consume([status(c, "not_interested")]) for c in owned[:10]),
    )
    opened, today = await assert_counted(a)
    assert sum(opened.values()) == 110 and sum(today.values()) == 120


async def test_the_migration_backfills_the_counters_from_the_cards_and_the_history(database_url: str) -> None:
    """Migration 0005 on a database with cards and history already: the counters start equal to a recount."""
    config = alembic_config(SERVICE_ROOT, database_url)
    await asyncio.to_thread(command.downgrade, config, "0004")
    avi, batya = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    statuses = ["new", "follow_up", "follow_up_meeting", "not_interested", "customer"]
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        for i in range(20):
            owner = (avi, batya, None)[i % 3]
            await conn.execute(
                text(
                    "INSERT INTO cards (id, workspace, number, card_type, status, owner_id, hidden, created_at)"
                    " VALUES (:id, :w, :n, 'lead', :s, :o, :h, :at)"
                ),
                {"id": uuid.uuid4(), "w": "main", "n": i, "s": statuses[i % 5], "o": owner, "h": i % 7 == 0, "at": now},
            )
        for i, at in enumerate([now, now, now - timedelta(minutes=5), now - timedelta(days=3), now - timedelta(hours=30)]):
            await conn.execute(
                text(
                    "INSERT INTO assignment_history (customer_id, workspace, owner_id, kind, strategy, reason, assigned_at)"
                    " VALUES (:c, 'main', :o, 'automatic', 'fixed', 'r', :at)"
                ),
                {"c": uuid.uuid4(), "o": (avi, batya)[i % 2], "at": at},
            )
    await engine.dispose()
    await asyncio.to_thread(command.upgrade, config, "head")
    a = Allocation(database_url)
    try:
        opened, today = await assert_counted(a)
        assert opened and today  # something was counted
    finally:
        await a.close()
