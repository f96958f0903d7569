"""Customer events as other systems see them, staged in the outbox of the caller's unit of work."""

import dataclasses
from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerSnapshot, CustomerUpdated
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from customer_svc.adapters.people import PeopleRepository
from customer_svc.domain.card import Card
from customer_svc.domain.edits import EDITABLE

SOURCE = "customer-svc"


# What an audit line of a card holds: the fields a person edits, and those a status change,
# custom field values, an owner or team change move (values before/after).
_AUDITED = (*EDITABLE, "status", "fields", "owner_id", "team_member_ids")


def audit_view(card: Card) -> dict[str, Any]:
    """The card's audited fields as JSON values (`crm_runtime.audit.changes` compares two)."""
    values = dataclasses.asdict(card)
    shown: dict[str, Any] = orjson.loads(orjson.dumps({k: values[k] for k in _AUDITED}, default=str))
    return shown


def snapshot(card: Card, parent_ids: list[UUID] | None = None, child_ids: list[UUID] | None = None) -> CustomerSnapshot:
    values: dict[str, Any] = {name: getattr(card, name) for name in CustomerSnapshot.model_fields if hasattr(card, name)}
    return CustomerSnapshot.model_validate({**values, "parent_ids": parent_ids or [], "child_ids": child_ids or []})


async def full_snapshot(session: AsyncSession, card: Card) -> CustomerSnapshot:
    """The snapshot with the card's parents and children."""
    links = await PeopleRepository(session).relations_of([card.id])
    parents = [a for a, b, kind in links if kind == "parent" and b == card.id]
    children = [b for a, b, kind in links if kind == "parent" and a == card.id]
    return snapshot(card, parents, children)


class Publisher:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def publish(
        self, session: AsyncSession, workspace: str, customer_id: UUID, payload: BaseModel, cause: Envelope | None = None
    ) -> None:
        event = new_event(SOURCE, payload, workspace=workspace, subject=str(customer_id), cause=cause)
        await self._outbox.stage(session, topics.CUSTOMER_EVENTS, str(customer_id), event)

    async def updated(self, session: AsyncSession, card: Card, changed: list[str], actor: str) -> None:
        """`crm.customer.updated.v1` with the card as it is now, links included, and who changed it."""
        payload = CustomerUpdated(customer_id=card.id, changed_fields=changed, customer=await full_snapshot(session, card), actor=actor)
        await self.publish(session, card.workspace, card.id, payload)
