"""Use cases of allocation-svc: assign every new card once, manage reps and rules."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from allocation_svc.adapters.repository import AllocationRepository
from allocation_svc.domain.allocation import STRATEGIES, LeadFacts, first_matching
from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerCreated, LeadAssigned
from crm_runtime.consumer import Handler
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox

SOURCE = "allocation-svc"


class AllocationHandlers:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def handlers(self) -> dict[str, Handler]:
        return {"crm.customer.created.v1": self.on_customer_created}

    async def on_customer_created(self, session: AsyncSession, event: Envelope) -> None:
        created = CustomerCreated.model_validate(event.data)
        card = created.customer
        repo = AllocationRepository(session)
        if card.owner_id is not None:
            return
        facts = LeadFacts(channel_kind=created.channel_kind, branch=card.branch, tags=tuple(card.tags))
        rule = first_matching(await repo.rules(card.workspace), facts)
        if rule is None:
            return  # no rule applies: the card stays unassigned
        rule = await repo.lock_rule(rule.id)
        strategy = STRATEGIES.get(rule.strategy)
        choice = strategy(rule, await repo.reps(card.workspace)) if strategy else None
        if choice is None:
            return  # nobody available
        assigned = LeadAssigned(
            customer_id=card.id,
            owner_id=choice.rep.id,
            rule_id=rule.id,
            strategy=rule.strategy,
            reason=f"{choice.reason}: {choice.rep.name}",
            assigned_at=datetime.now(UTC),
        )
        if not await repo.add_assignment({**assigned.model_dump(), "workspace": card.workspace}):
            return
        await repo.move_cursor(rule.id, choice.next_cursor)
        out = new_event(SOURCE, assigned, workspace=card.workspace, subject=str(card.id), cause=event)
        await self._outbox.stage(session, topics.ALLOCATION_EVENTS, str(card.id), out)


class AllocationAdmin:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def reps(self, workspace: str) -> list[Any]:
        async with self._sessions() as session:
            return await AllocationRepository(session).rep_rows(workspace)

    async def add_rep(self, workspace: str, values: dict[str, Any]) -> UUID:
        rep_id = values.pop("id", None) or uuid4()
        async with self._sessions() as session, session.begin():
            await AllocationRepository(session).add_rep({"id": rep_id, "workspace": workspace, **values})
        return rep_id

    async def rules(self, workspace: str) -> list[Any]:
        async with self._sessions() as session:
            return await AllocationRepository(session).rule_rows(workspace)

    async def add_rule(self, workspace: str, values: dict[str, Any]) -> UUID:
        rule_id = uuid4()
        async with self._sessions() as session, session.begin():
            await AllocationRepository(session).add_rule({"id": rule_id, "workspace": workspace, **values})
        return rule_id

    async def assignment(self, customer_id: UUID) -> Any:
        async with self._sessions() as session:
            return await AllocationRepository(session).assignment(customer_id)


SUBSCRIPTIONS = [topics.CUSTOMER_EVENTS]
