"""Use cases of customer-svc: apply dedup decisions and owner assignments to cards."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import (
    CustomerCreated,
    CustomerEnriched,
    CustomerOwnerAssigned,
    CustomerSnapshot,
    Decision,
    DecisionMade,
    LeadAssigned,
)
from crm_runtime.consumer import Batched, Handler
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from customer_svc.adapters.repository import CustomerRepository
from customer_svc.domain.card import Card, card_from_lead, enrich

SOURCE = "customer-svc"


def snapshot(card: Card) -> CustomerSnapshot:
    return CustomerSnapshot.model_validate(
        {
            "id": card.id,
            "workspace": card.workspace,
            "number": card.number,
            "card_type": card.card_type,
            "active": card.active,
            "status": card.status,
            "website_last_token": card.website_last_token,
            "first_name": card.first_name,
            "last_name": card.last_name,
            "company_name": card.company_name,
            "id_type": card.id_type,
            "national_id": card.national_id,
            "branch": card.branch,
            "phones": card.phones,
            "emails": card.emails,
            "tags": card.tags,
            "owner_id": card.owner_id,
            "created_by": card.created_by,
            "created_at": card.created_at,
        }
    )


class CustomerHandlers:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def handlers(self) -> dict[str, Handler | Batched]:
        return {"crm.dedup.decision.made.v1": Batched(self.on_decisions), "crm.allocation.lead_assigned.v1": self.on_lead_assigned}

    async def _publish(self, session: AsyncSession, cause: Envelope, customer_id: UUID, payload: Any) -> None:
        event = new_event(SOURCE, payload, workspace=cause.workspace, subject=str(customer_id), cause=cause)
        await self._outbox.stage(session, topics.CUSTOMER_EVENTS, str(customer_id), event)

    async def on_decisions(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Apply a run of decisions in order; consecutive creations are written together."""
        creations: list[tuple[Envelope, DecisionMade]] = []
        for event in events:
            decided = DecisionMade.model_validate(event.data)
            if decided.customer_id is None:
                continue
            if decided.decision is Decision.CREATE:
                creations.append((event, decided))
                continue
            await self._create(session, creations)  # what came before must exist first
            creations = []
            await self.on_decision(session, event, decided)
        await self._create(session, creations)

    async def _create(self, session: AsyncSession, creations: list[tuple[Envelope, DecisionMade]]) -> None:
        """New cards: one lookup, one number range per workspace, one insert, one outbox write."""
        if not creations:
            return
        repo = CustomerRepository(session)
        known = await repo.existing([d.customer_id for _, d in creations if d.customer_id])
        fresh: dict[UUID, tuple[Envelope, DecisionMade]] = {}
        for event, decided in creations:
            if decided.customer_id and decided.customer_id not in known:
                fresh.setdefault(decided.customer_id, (event, decided))
        numbers: dict[str, list[int]] = {}
        for workspace in sorted({event.workspace for event, _ in fresh.values()}):
            count = sum(1 for event, _ in fresh.values() if event.workspace == workspace)
            numbers[workspace] = await repo.next_numbers(workspace, count)
        cards, staged = [], []
        now = datetime.now(UTC)
        for customer_id, (event, decided) in fresh.items():
            card = card_from_lead(
                customer_id,
                event.workspace,
                numbers[event.workspace].pop(0),
                decided.lead,
                decided.phones_e164,
                created_by=f"{decided.channel.kind.value}:{decided.channel.key}",
                created_at=now,
                token=decided.website_last_token.value if decided.website_last_token else None,
            )
            cards.append(card)
            payload = CustomerCreated(customer=snapshot(card), channel_kind=decided.channel.kind.value, submission_id=decided.submission_id)
            out = new_event(SOURCE, payload, workspace=event.workspace, subject=str(card.id), cause=event)
            staged.append((topics.CUSTOMER_EVENTS, str(card.id), out))
        await repo.add_many(cards)
        await self._outbox.stage_many(session, staged)

    async def on_decision(self, session: AsyncSession, event: Envelope, decided: DecisionMade) -> None:
        """Decisions about a card that exists: enrich, renew, or a duplicate lead."""
        assert decided.customer_id is not None
        repo = CustomerRepository(session)
        token = decided.website_last_token.value if decided.website_last_token else None
        if decided.decision in (Decision.ENRICH, Decision.RENEW):
            found = await repo.get(decided.customer_id, for_update=True)
            if found is None:
                raise LookupError(f"decision {decided.submission_id} targets unknown customer {decided.customer_id}")
            filled = enrich(found, decided.lead, decided.phones_e164)
            if token:
                found.website_last_token = token
            if decided.decision is Decision.RENEW and found.status != "new":
                found.status = "new"
                filled.append("status")
            await repo.save(found)
            await self._publish(
                session,
                event,
                found.id,
                CustomerEnriched(
                    customer_id=found.id,
                    filled_fields=filled,
                    submission_id=decided.submission_id,
                    channel_key=decided.channel.key,
                    customer=snapshot(found),
                ),
            )
        elif decided.decision is Decision.DUPLICATE_LEAD:
            await repo.add_duplicate_lead(
                decided.submission_id, event.workspace, decided.customer_id, decided.channel.key, decided.lead.model_dump(mode="json")
            )

    async def on_lead_assigned(self, session: AsyncSession, event: Envelope) -> None:
        assigned = LeadAssigned.model_validate(event.data)
        found, previous = await CustomerRepository(session).set_owner(assigned.customer_id, assigned.owner_id)
        if not found:
            raise LookupError(f"assignment for unknown customer {assigned.customer_id}")
        if previous == assigned.owner_id:
            return
        await self._publish(
            session,
            event,
            assigned.customer_id,
            CustomerOwnerAssigned(customer_id=assigned.customer_id, owner_id=assigned.owner_id, previous_owner_id=previous),
        )


class CustomerQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, customer_id: UUID) -> Any:
        async with self._sessions() as session:
            return await CustomerRepository(session).row(customer_id)

    async def by_number(self, workspace: str, number: int) -> Any:
        async with self._sessions() as session:
            return await CustomerRepository(session).row_by_number(workspace, number)

    async def page(self, workspace: str, after: tuple[datetime, UUID] | None, limit: int, q: str | None) -> list[Any]:
        async with self._sessions() as session:
            return await CustomerRepository(session).page(workspace, after, limit, q)


SUBSCRIPTIONS = [topics.DECISIONS, topics.ALLOCATION_EVENTS]
