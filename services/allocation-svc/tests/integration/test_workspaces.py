"""Customer events are applied only in their card's workspace (issue 15), against a real
PostgreSQL: an event whose envelope names another workspace than the card's (as the payload
states it, or as the projection holds it) is a PoisonMessage with the reason — the consumer
dead-letters it — and nothing of it is applied: no projection change, no assignment, no
queue entry, nothing published."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import text

from crm_contracts.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerEnriched,
    CustomerMerged,
    CustomerOwnerAssigned,
    CustomerSnapshot,
    CustomerStatusChanged,
    CustomerUnmerged,
    CustomerUpdated,
)
from crm_runtime.consumer import PoisonMessage

from .conftest import Allocation, card

pytestmark = pytest.mark.integration

MISMATCH = "^workspace mismatch: event workspace branch-b, record workspace main$"


async def projection(allocation: Allocation) -> list[tuple[Any, ...]]:
    async with allocation.sessions() as session:
        rows = await session.execute(text("SELECT id, workspace, name, status, owner_id, hidden, tags FROM cards ORDER BY number"))
    return [tuple(r) for r in rows]


async def test_a_created_event_whose_card_says_another_workspace_is_poison(allocation: Allocation) -> None:
    await allocation.rep("Avi")
    await allocation.rule("everyone")
    lead = card(workspace="main")
    published = await allocation.outbox()  # the rep's and the rule's (RepChanged, audit)

    with pytest.raises(PoisonMessage, match=MISMATCH):
        await allocation.consume([CustomerCreated(customer=lead, channel_kind="web")], workspace="branch-b")

    assert await projection(allocation) == []
    assert await allocation.owners() == {}
    assert await allocation.outbox() == published


async def test_a_created_event_from_another_workspace_cannot_take_over_a_card(allocation: Allocation) -> None:
    avi = await allocation.rep("Avi")
    await allocation.rule("everyone")
    lead = card(workspace="main")
    await allocation.created(lead)
    before, published = await projection(allocation), await allocation.outbox()

    forged = lead.model_copy(update={"workspace": "branch-b", "first_name": "Forged"})
    with pytest.raises(PoisonMessage, match=MISMATCH):
        await allocation.consume([CustomerCreated(customer=forged, channel_kind="web")], workspace="branch-b")

    assert await projection(allocation) == before
    assert await allocation.owners() == {lead.id: uuid.UUID(avi["id"])}
    assert await allocation.outbox() == published


def _snapshot(lead: CustomerSnapshot) -> CustomerSnapshot:
    return lead.model_copy(update={"workspace": "branch-b", "status": "customer", "tags": ["forged"]})


FORGED: list[Any] = [
    pytest.param(
        lambda lead: CustomerStatusChanged(customer_id=lead.id, status="customer", previous_status="new", cause="automatic"), id="status"
    ),
    pytest.param(lambda lead: CustomerUpdated(customer_id=lead.id, changed_fields=["tags"], customer=_snapshot(lead)), id="updated"),
    pytest.param(lambda lead: CustomerEnriched(customer_id=lead.id, filled_fields=["tags"], customer=_snapshot(lead)), id="enriched"),
    pytest.param(lambda lead: CustomerOwnerAssigned(customer_id=lead.id, owner_id=uuid.uuid4()), id="owner"),
    pytest.param(lambda lead: CustomerDeleted(customer_id=lead.id, workspace="branch-b"), id="deleted"),
    pytest.param(
        lambda lead: CustomerMerged(
            merge_id=uuid.uuid4(), survivor_id=uuid.uuid4(), merged_ids=[lead.id], survivor=card(workspace="branch-b")
        ),
        id="merged",
    ),
    pytest.param(
        lambda lead: CustomerUnmerged(merge_id=uuid.uuid4(), survivor_id=lead.id, restored=[_snapshot(lead)]),
        id="unmerged",
    ),
]


@pytest.mark.parametrize("forge", FORGED)
async def test_an_event_from_another_workspace_about_a_card_is_poison_and_changes_nothing(
    allocation: Allocation, forge: Callable[[CustomerSnapshot], BaseModel]
) -> None:
    await allocation.rep("Avi")
    await allocation.rule("everyone")
    lead = card(workspace="main")
    await allocation.created(lead)
    before, owners, published = await projection(allocation), await allocation.owners(), await allocation.outbox()

    with pytest.raises(PoisonMessage, match=MISMATCH):
        await allocation.consume([forge(lead)], workspace="branch-b")

    assert await projection(allocation) == before
    assert await allocation.owners() == owners
    assert await allocation.outbox() == published


async def test_an_event_whose_payload_names_another_workspace_than_its_envelope_is_poison(allocation: Allocation) -> None:
    lead = card(workspace="main")
    await allocation.created(lead)
    before = await projection(allocation)

    with pytest.raises(PoisonMessage, match="^workspace mismatch: event workspace main, record workspace branch-b$"):
        await allocation.consume([CustomerUpdated(customer_id=lead.id, changed_fields=["tags"], customer=_snapshot(lead))])

    assert await projection(allocation) == before
