"""A consumer never applies an event to a record of another workspace (DESIGN 5.3): each
handler refuses an event whose envelope workspace is not the card's with PoisonMessage (the
consumer dead-letters it with the reason) and leaves the card as it was. Events whose values
PostgreSQL could never store are refused the same way, before any statement."""

import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from crm_contracts.events import (
    ContactDatesChanged,
    Decision,
    DecisionMade,
    InteractionRecorded,
    LeadAssigned,
    LeadTransferred,
    TimelineEntryRecorded,
)
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_runtime.consumer import PoisonMessage

from .conftest import Customers

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
IN_A = {"X-Workspace": "a"}  # the cards of these tests are of workspace a


def _decision(kind: Decision, customer_id: uuid.UUID, lead: Lead | None = None, key: str = "dev-web-key") -> DecisionMade:
    channel = ChannelRef(key=key, kind=ChannelKind.WEB, name="web", duplicate_policy="enrich")
    return DecisionMade(
        submission_id=uuid.uuid4(),
        decision=kind,
        customer_id=customer_id,
        channel=channel,
        lead=lead or Lead(last_name="Forged", phones=["050-9999999"], tags=["b"]),
    )


async def _refused(call: Awaitable[Any], reason: str = "workspace mismatch: event workspace b, record workspace a") -> None:
    with pytest.raises(PoisonMessage) as refused:
        await call
    assert str(refused.value) == reason


async def _card_of_a(customers: Customers) -> tuple[uuid.UUID, dict[str, Any]]:
    card = await customers.create({"first_name": "Ruth", "last_name": "Cohen", "phones": ["050-1234567"]}, workspace="a")
    return uuid.UUID(card["id"]), card


async def _unchanged(customers: Customers, cid: uuid.UUID, before: dict[str, Any]) -> None:
    after = (await customers.http.get(f"/v1/customers/{cid}", headers=IN_A)).json()
    assert {k: v for k, v in after.items() if k != "contacts"} == {k: v for k, v in before.items() if k != "contacts"}


async def test_decisions_of_another_workspace_leave_the_card_alone(customers: Customers) -> None:
    cid, before = await _card_of_a(customers)
    for kind in (Decision.ENRICH, Decision.RENEW, Decision.DUPLICATE_LEAD, Decision.CREATE):
        await _refused(customers.deliver(_decision(kind, cid), workspace="b"))
    await _unchanged(customers, cid, before)
    assert (await customers.http.get("/v1/duplicate-leads", headers={"X-Workspace": "b"})).json()["items"] == []
    assert await customers.events("crm.customer.enriched.v1") == []
    # The same decisions from the card's own workspace apply.
    await customers.deliver(_decision(Decision.ENRICH, cid), workspace="a")
    assert (await customers.http.get(f"/v1/customers/{cid}", headers=IN_A)).json()["tags"] == ["b"]


async def test_a_mismatching_decision_in_a_batch_fails_alone_when_applied_one_at_a_time(customers: Customers) -> None:
    cid, before = await _card_of_a(customers)
    good = [_decision(Decision.CREATE, uuid.uuid4(), Lead(last_name=f"Good {i}")) for i in range(3)]
    batch = [(good[0], "a"), (_decision(Decision.ENRICH, cid), "b"), (good[1], "b"), (good[2], "a")]
    with pytest.raises(PoisonMessage):  # the batch's transaction fails as a whole ...
        await customers.deliver_batch(batch)
    for payload, workspace in batch:  # ... and the consumer applies its messages one at a time
        if payload.customer_id == cid:
            await _refused(customers.deliver(payload, workspace=workspace))
        else:
            await customers.deliver(payload, workspace=workspace)
    for decided, workspace in ((good[0], "a"), (good[1], "b"), (good[2], "a")):
        card = (await customers.http.get(f"/v1/customers/{decided.customer_id}", headers={"X-Workspace": workspace})).json()
        assert card["workspace"] == workspace and card["last_name"] == decided.lead.last_name
    await _unchanged(customers, cid, before)


async def test_owner_changes_of_another_workspace_are_refused(customers: Customers) -> None:
    cid, before = await _card_of_a(customers)
    owner = uuid.uuid4()
    assigned = LeadAssigned(customer_id=cid, owner_id=owner, rule_id=None, strategy="round_robin", reason="r", assigned_at=NOW)
    moved = LeadTransferred(
        customer_id=cid, transfer_id=uuid.uuid4(), from_owner_id=None, to_owner_id=owner, reason="r", actor="x", transferred_at=NOW
    )
    for payload in (assigned, moved):
        await _refused(customers.deliver(payload, workspace="b"))
    await _unchanged(customers, cid, before)
    assert await customers.events("crm.customer.owner_assigned.v1") == []
    await customers.deliver(assigned, workspace="a")
    assert (await customers.http.get(f"/v1/customers/{cid}", headers=IN_A)).json()["owner_id"] == str(owner)


async def test_timeline_facts_of_another_workspace_are_refused(customers: Customers) -> None:
    cid, before = await _card_of_a(customers)
    order = InteractionRecorded(customer_id=cid, interaction_id=uuid.uuid4(), kind="order", occurred_at=NOW)
    dates = ContactDatesChanged(customer_id=cid, last_contact_at=NOW, next_contact_at=NOW + timedelta(days=1))
    entry = TimelineEntryRecorded(customer_id=cid, entry_id=uuid.uuid4(), kind="note", occurred_at=NOW, summary="forged")
    for payload in (order, dates, entry):
        await _refused(customers.deliver(payload, workspace="b"))
    await _unchanged(customers, cid, before)  # status still `new`: a made-up order moved nothing
    assert await customers.events("crm.customer.status_changed.v1") == []
    await customers.deliver(order, workspace="a")
    assert (await customers.http.get(f"/v1/customers/{cid}", headers=IN_A)).json()["status"] == "customer"


async def test_timeline_entries_batch_one_mismatch_fails_alone_when_applied_one_at_a_time(customers: Customers) -> None:
    cid, before = await _card_of_a(customers)
    other = uuid.UUID((await customers.create({"last_name": "Levi"}, workspace="a"))["id"])
    entries: list[tuple[BaseModel, str]] = [
        (TimelineEntryRecorded(customer_id=other, entry_id=uuid.uuid4(), kind="note", occurred_at=NOW, summary="first"), "a"),
        (TimelineEntryRecorded(customer_id=cid, entry_id=uuid.uuid4(), kind="note", occurred_at=NOW, summary="forged"), "b"),
    ]
    with pytest.raises(PoisonMessage):
        await customers.deliver_batch(entries)
    await customers.deliver(entries[0][0], workspace="a")
    await _refused(customers.deliver(entries[1][0], workspace="b"))
    assert (await customers.http.get(f"/v1/customers/{other}", headers=IN_A)).json()["last_event_summary"] == "first"
    await _unchanged(customers, cid, before)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            TimelineEntryRecorded(customer_id=uuid.uuid4(), entry_id=uuid.uuid4(), kind="note", occurred_at=NOW, summary="a\x00b"),
            "data.summary",
        ),
        (_decision(Decision.CREATE, uuid.uuid4(), Lead(last_name="a\x00b")), "data.lead.last_name"),
        (_decision(Decision.CREATE, uuid.uuid4(), Lead(last_name="x", fields={"n": 10**30})), "data.lead.fields.n"),
        (_decision(Decision.CREATE, uuid.uuid4(), Lead(last_name="x", tags=["ok", "\ud800"])), "data.lead.tags[1]"),
        (_decision(Decision.CREATE, uuid.uuid4(), key="k" * 201), "data.channel.key"),
    ],
)
async def test_events_with_values_postgresql_cannot_store_are_refused_naming_the_field(
    customers: Customers, payload: BaseModel, reason: str
) -> None:
    with pytest.raises(PoisonMessage) as refused:
        await customers.deliver(payload, workspace="a")
    assert reason in str(refused.value) and "\x00" not in str(refused.value)
    assert (await customers.http.get("/v1/customers", headers={"X-Workspace": "a"})).json()["items"] == []
