"""Customer events as other systems see them, staged in the outbox of the caller's unit of work."""

from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerSnapshot
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.problems import Problem
from customer_svc.adapters.people import PeopleRepository
from customer_svc.adapters.repository import CustomerRepository
from customer_svc.domain.card import Card
from customer_svc.domain.edits import CardInvalid, FieldProblem

SOURCE = "customer-svc"


def snapshot(card: Card, parent_ids: list[UUID] | None = None, child_ids: list[UUID] | None = None) -> CustomerSnapshot:
    values: dict[str, Any] = {name: getattr(card, name) for name in CustomerSnapshot.model_fields if hasattr(card, name)}
    return CustomerSnapshot.model_validate({**values, "parent_ids": parent_ids or [], "child_ids": child_ids or []})


async def full_snapshot(session: AsyncSession, card: Card) -> CustomerSnapshot:
    """The snapshot with the card's parents and children."""
    links = await PeopleRepository(session).relations_of([card.id])
    parents = [a for a, b, kind in links if kind == "parent" and b == card.id]
    children = [b for a, b, kind in links if kind == "parent" and a == card.id]
    return snapshot(card, parents, children)


class Numbers:
    """Customer numbers, each range taken in a short transaction of its own: the workspace's
    counter row is locked for one statement, not for a whole batch of cards (numbers are
    unique; a batch that rolls back leaves a gap, which is allowed)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def take(self, workspace: str, count: int) -> list[int]:
        async with self._sessions() as session, session.begin():
            return await CustomerRepository(session).next_numbers(workspace, count)


class Publisher:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def publish(
        self, session: AsyncSession, workspace: str, customer_id: UUID, payload: BaseModel, cause: Envelope | None = None
    ) -> None:
        event = new_event(SOURCE, payload, workspace=workspace, subject=str(customer_id), cause=cause)
        await self._outbox.stage(session, topics.CUSTOMER_EVENTS, str(customer_id), event)


def invalid(problems: list[FieldProblem]) -> Problem:
    """A 422 naming every bad field."""
    named = [{"field": p.field, "message": p.message} for p in problems]
    return Problem(422, "Invalid request", "Invalid field(s): " + ", ".join(p["field"] for p in named), errors=named)


def invalid_card(error: CardInvalid) -> Problem:
    return invalid(error.problems)


def live(card: Card | None) -> Card:
    """`card`, or the problem for a card that does not exist or was merged into another."""
    if card is None:
        raise Problem(404, "Customer not found")
    if card.merged_into is not None:
        raise Problem(
            409, "Card was merged", f"This card was merged into {card.merged_into}.", rule="merged", merged_into=str(card.merged_into)
        )
    return card
