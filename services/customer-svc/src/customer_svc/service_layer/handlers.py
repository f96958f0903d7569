"""What customer-svc does with other services' events: dedup decisions, owner assignments,
timeline facts (automatic statuses, contact dates). Each is idempotent on redelivery."""

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import (
    ContactDatesChanged,
    CustomerCreated,
    CustomerEnriched,
    CustomerOwnerAssigned,
    CustomerStatusChanged,
    Decision,
    DecisionMade,
    DuplicateLeadRecorded,
    InteractionRecorded,
    LeadAssigned,
    LeadTransferred,
    RepChanged,
    TimelineEntryRecorded,
)
from crm_runtime.consumer import Batched, Handler, PoisonMessage, same_workspace
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.scope import apply_rep_changed
from customer_svc.adapters.repository import ANY_WORKSPACE, CustomerRepository
from customer_svc.adapters.tables import rep_teams
from customer_svc.domain.card import Card, card_from_lead, enrich
from customer_svc.domain.status import automatic_status, is_conversation
from customer_svc.service_layer.audit_log import AUDIT_TOPICS
from customer_svc.service_layer.definitions import FieldDefinitions
from customer_svc.service_layer.numbers import Numbers
from customer_svc.service_layer.publishing import SOURCE, Publisher, snapshot

log = logging.getLogger(__name__)
CHANNEL_KEY_MAX = 200  # intake-svc's channel keys; duplicate_leads.channel_key, customers.created_by (`<kind>:<key>`)


class CustomerHandlers:
    def __init__(self, outbox: Outbox, definitions: FieldDefinitions, numbers: Numbers) -> None:
        self._numbers = numbers
        self._outbox = outbox
        self._publisher = Publisher(outbox)
        self._definitions = definitions

    def handlers(self) -> dict[str, Handler | Batched]:
        return {
            "crm.dedup.decision.made.v1": Batched(self.on_decisions),
            "crm.allocation.lead_assigned.v1": self.on_lead_assigned,
            "crm.allocation.lead_transferred.v1": self.on_lead_transferred,
            "crm.allocation.rep_changed.v1": self.on_rep_changed,
            "crm.timeline.interaction_recorded.v1": self.on_interaction,
            "crm.timeline.contact_dates_changed.v1": self.on_contact_dates,
            "crm.timeline.entry_recorded.v1": Batched(self.on_entries),
        }

    async def on_decisions(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Apply a run of decisions in order; consecutive creations are written together."""
        creations: list[tuple[Envelope, DecisionMade]] = []
        for event in events:
            decided = DecisionMade.model_validate(event.data)
            if len(decided.channel.key) > CHANNEL_KEY_MAX:
                raise PoisonMessage(f"data.channel.key is longer than {CHANNEL_KEY_MAX} characters")
            if decided.customer_id is None:
                continue
            if decided.decision is Decision.CREATE:
                creations.append((event, decided))
                continue
            await self._create(session, creations)  # what came before must exist first
            creations = []
            await self.on_decision(session, event, decided)
        await self._create(session, creations)

    async def _sorted_lead(
        self, session: AsyncSession, workspace: str, decided: DecisionMade, card_type: str
    ) -> tuple[DecisionMade, dict[str, Any]]:
        """The decision with only the custom values the workspace's definitions accept, and the rest."""
        accepted, refused = await self._definitions.sort(session, workspace, decided.lead.fields, card_type)
        if not refused:
            return decided, {}
        return decided.model_copy(update={"lead": decided.lead.model_copy(update={"fields": accepted})}), refused

    async def _create(self, session: AsyncSession, creations: list[tuple[Envelope, DecisionMade]]) -> None:
        """New cards: one lookup, one number range per workspace, one insert, one outbox write."""
        if not creations:
            return
        repo = CustomerRepository(session)
        known = await repo.workspaces([d.customer_id for _, d in creations if d.customer_id])
        fresh: dict[UUID, tuple[Envelope, DecisionMade]] = {}
        for event, decided in creations:
            if decided.customer_id is None:
                continue
            if decided.customer_id in known:  # a redelivery: the card exists (in this workspace only)
                same_workspace(event, known[decided.customer_id])
            elif fresh.setdefault(decided.customer_id, (event, decided))[0].workspace != event.workspace:
                same_workspace(event, fresh[decided.customer_id][0].workspace)
        numbers: dict[str, list[int]] = {}
        for workspace in sorted({event.workspace for event, _ in fresh.values()}):
            count = sum(1 for event, _ in fresh.values() if event.workspace == workspace)
            numbers[workspace] = await self._numbers.take(workspace, count)
        cards, staged = [], []
        now = datetime.now(UTC)
        for customer_id, (event, decided) in fresh.items():
            decided, refused = await self._sorted_lead(session, event.workspace, decided, "lead")
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
            card.unknown_fields = refused
            cards.append(card)
            payload = CustomerCreated(
                customer=snapshot(card),
                channel_kind=decided.channel.kind.value,
                channel_key=decided.channel.key,
                submission_id=decided.submission_id,
            )
            out = new_event(SOURCE, payload, workspace=event.workspace, subject=str(card.id), cause=event)
            staged.append((topics.CUSTOMER_EVENTS, str(card.id), out))
        await repo.add_many(cards)
        await self._outbox.stage_many(session, staged)

    async def on_decision(self, session: AsyncSession, event: Envelope, decided: DecisionMade) -> None:
        """Decisions about a card that exists: enrich, renew (also an import's reset), or a duplicate lead."""
        assert decided.customer_id is not None
        customer_id = decided.customer_id
        repo = CustomerRepository(session)
        if decided.decision in (Decision.ENRICH, Decision.RENEW):
            found = await repo.get(decided.customer_id, ANY_WORKSPACE, for_update=True)
            if found is None:
                raise LookupError(f"decision {decided.submission_id} targets unknown customer {decided.customer_id}")
            same_workspace(event, found.workspace)
            decided, refused = await self._sorted_lead(session, found.workspace, decided, found.card_type)
            filled = enrich(found, decided.lead, decided.phones_e164)
            for key, value in refused.items():
                if key not in found.unknown_fields:
                    found.unknown_fields[key] = value
            if decided.website_last_token:
                found.website_last_token = decided.website_last_token.value
            previous = found.status
            if decided.decision is Decision.RENEW and found.status != "new":
                found.status = "new"
                filled.append("status")
            await repo.save(found)
            enriched = CustomerEnriched(
                customer_id=found.id,
                filled_fields=filled,
                submission_id=decided.submission_id,
                channel_key=decided.channel.key,
                customer=snapshot(found),
            )
            await self._publisher.publish(session, event.workspace, found.id, enriched, cause=event)
            if found.status != previous:
                changed = CustomerStatusChanged(
                    customer_id=found.id,
                    status=found.status,
                    previous_status=previous,
                    reason=f"lead {decided.submission_id} via {decided.channel.key} ({decided.channel.duplicate_policy})",
                    cause="decision",
                    actor=f"{decided.channel.kind.value}:{decided.channel.key}",
                )
                await self._publisher.publish(session, event.workspace, found.id, changed, cause=event)
        elif decided.decision is Decision.DUPLICATE_LEAD:
            target = (await repo.workspaces([customer_id])).get(customer_id)
            if target is not None:
                same_workspace(event, target)
            await repo.add_duplicate_lead(
                decided.submission_id, event.workspace, customer_id, decided.channel.key, decided.lead.model_dump(mode="json")
            )
            alert = DuplicateLeadRecorded(
                customer_id=customer_id,
                duplicate_lead_id=decided.submission_id,
                channel_key=decided.channel.key,
                submission_id=decided.submission_id,
            )
            await self._publisher.publish(session, event.workspace, customer_id, alert, cause=event)

    async def on_rep_changed(self, session: AsyncSession, event: Envelope) -> None:
        """A rep's team as allocation-svc last published it (the `team` scope reads `rep_teams`)."""
        change = RepChanged.model_validate(event.data)
        await apply_rep_changed(session, rep_teams, event.workspace, change)

    async def on_lead_assigned(self, session: AsyncSession, event: Envelope) -> None:
        assigned = LeadAssigned.model_validate(event.data)
        await self._set_owner(session, event, assigned.customer_id, assigned.owner_id)

    async def on_lead_transferred(self, session: AsyncSession, event: Envelope) -> None:
        moved = LeadTransferred.model_validate(event.data)
        await self._set_owner(session, event, moved.customer_id, moved.to_owner_id)

    async def _set_owner(self, session: AsyncSession, event: Envelope, customer_id: UUID, owner_id: UUID) -> None:
        repo = CustomerRepository(session)
        changed, previous = await repo.set_owner(customer_id, event.workspace, owner_id)
        if not changed:
            other = (await repo.workspaces([customer_id])).get(customer_id)
            if other is not None:
                same_workspace(event, other)
            raise LookupError(f"owner change for unknown customer {customer_id}")
        if previous == owner_id:
            return
        payload = CustomerOwnerAssigned(customer_id=customer_id, owner_id=owner_id, previous_owner_id=previous)
        await self._publisher.publish(session, event.workspace, customer_id, payload, cause=event)

    async def _card(self, session: AsyncSession, customer_id: UUID) -> Card | None:
        """The card a timeline fact is about, following merges to the surviving card."""
        repo = CustomerRepository(session)
        card = await repo.get(customer_id, ANY_WORKSPACE, for_update=True)
        seen = set()
        while card is not None and card.merged_into is not None and card.id not in seen:
            seen.add(card.id)
            card = await repo.get(card.merged_into, ANY_WORKSPACE, for_update=True)
        return card

    async def on_interaction(self, session: AsyncSession, event: Envelope) -> None:
        """Automatic statuses (DESIGN 4.2): a fact moves a card forward, never backwards."""
        fact = InteractionRecorded.model_validate(event.data)
        card = await self._card(session, fact.customer_id)
        if card is None:
            log.warning("interaction %s for unknown customer %s ignored", fact.interaction_id, fact.customer_id)
            return
        same_workspace(event, card.workspace)
        changed = False
        if is_conversation(fact.kind, fact.outcome) and (card.last_conversation_at is None or fact.occurred_at > card.last_conversation_at):
            card.last_conversation_at = fact.occurred_at
            changed = True
        previous, target = card.status, automatic_status(card.status, fact.kind, fact.outcome)
        if target is not None:
            card.status = target
            changed = True
        if changed:
            await CustomerRepository(session).save(card)
        if target is not None:
            payload = CustomerStatusChanged(
                customer_id=card.id,
                status=target,
                previous_status=previous,
                reason=f"{fact.kind}" + (f" ({fact.outcome})" if fact.outcome else "") + f" {fact.interaction_id}",
                cause="automatic",
                actor="timeline-svc",
            )
            await self._publisher.publish(session, event.workspace, card.id, payload, cause=event)

    async def on_entries(self, session: AsyncSession, events: list[Envelope]) -> None:
        """The newest timeline entry of each card, shown on list rows."""
        repo = CustomerRepository(session)
        entries = [(event, TimelineEntryRecorded.model_validate(event.data)) for event in events]
        cards = await repo.workspaces(list({entry.customer_id for _, entry in entries}))
        latest: dict[UUID, tuple[datetime, str]] = {}
        for event, entry in entries:
            if entry.customer_id in cards:  # an entry of a card not (yet) here changes nothing
                same_workspace(event, cards[entry.customer_id])
            if entry.customer_id not in latest or latest[entry.customer_id][0] <= entry.occurred_at:
                latest[entry.customer_id] = (entry.occurred_at, entry.summary)
        await repo.note_latest_events(latest)

    async def on_contact_dates(self, session: AsyncSession, event: Envelope) -> None:
        dates = ContactDatesChanged.model_validate(event.data)
        repo = CustomerRepository(session)
        if not await repo.set_contact_dates(dates.customer_id, event.workspace, dates.last_contact_at, dates.next_contact_at):
            other = (await repo.workspaces([dates.customer_id])).get(dates.customer_id)
            if other is not None:
                same_workspace(event, other)
            log.warning("contact dates for unknown customer %s ignored", dates.customer_id)


# The audit topics' lines are kept by `audit_log.AuditLog` (its handlers are registered beside these).
SUBSCRIPTIONS = [topics.DECISIONS, topics.ALLOCATION_EVENTS, topics.TIMELINE_EVENTS, *AUDIT_TOPICS]
