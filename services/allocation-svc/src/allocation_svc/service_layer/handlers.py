"""Use cases of allocation-svc: assign every new card once, manage reps and rules."""

import dataclasses
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from allocation_svc.adapters.repository import AllocationRepository
from allocation_svc.domain.allocation import STRATEGIES, LeadFacts, Rep, Rule, first_matching
from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerCreated, LeadAssigned
from crm_runtime.consumer import Batched, Handler
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox

SOURCE = "allocation-svc"


class AllocationHandlers:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def handlers(self) -> dict[str, Handler | Batched]:
        return {"crm.customer.created.v1": Batched(self.on_customers_created)}

    async def on_customers_created(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Assign a run of new cards: rules, reps and each rule's cursor are read once per run.

        Cards are taken in partition order; a rule's row stays locked until the commit, so
        concurrent instances advance one cursor one assignment at a time.
        """
        repo = AllocationRepository(session)
        created = [(event, CustomerCreated.model_validate(event.data)) for event in events]
        todo = [(e, c) for e, c in created if c.customer.owner_id is None]
        taken = await repo.assigned_among([c.customer.id for _, c in todo])
        rules: dict[str, list[Rule]] = {}
        reps: dict[str, list[Rep]] = {}
        locked: dict[UUID, Rule] = {}
        rows, staged = [], []
        for event, c in todo:
            card = c.customer
            if card.id in taken:
                continue
            if card.workspace not in rules:
                rules[card.workspace] = await repo.rules(card.workspace)
                reps[card.workspace] = await repo.reps(card.workspace)
            rule = first_matching(rules[card.workspace], LeadFacts(channel_kind=c.channel_kind, branch=card.branch, tags=tuple(card.tags)))
            if rule is None:
                continue  # no rule applies: the card stays unassigned
            if rule.id not in locked:
                locked[rule.id] = await repo.lock_rule(rule.id)
            current = locked[rule.id]
            strategy = STRATEGIES.get(current.strategy)
            choice = strategy(current, reps[card.workspace]) if strategy else None
            if choice is None:
                continue  # nobody available
            locked[rule.id] = dataclasses.replace(current, cursor=choice.next_cursor)
            taken.add(card.id)
            assigned = LeadAssigned(
                customer_id=card.id,
                owner_id=choice.rep.id,
                rule_id=current.id,
                strategy=current.strategy,
                reason=f"{choice.reason}: {choice.rep.name}",
                assigned_at=datetime.now(UTC),
            )
            rows.append({**assigned.model_dump(), "workspace": card.workspace})
            out = new_event(SOURCE, assigned, workspace=card.workspace, subject=str(card.id), cause=event)
            staged.append((topics.ALLOCATION_EVENTS, str(card.id), out))
        assigned_now = await repo.add_assignments(rows)
        for rule in locked.values():
            await repo.move_cursor(rule.id, rule.cursor)
        # Another instance may have assigned a card meanwhile (a rebalance): publish only ours.
        await self._outbox.stage_many(session, [s for s in staged if UUID(s[1]) in assigned_now])


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
