"""What customer-svc does with other services' events: dedup decisions, owner assignments,
timeline facts (automatic statuses, contact dates). Each is idempotent on redelivery.

The hot ones (decisions, owner assignments, timeline entries) take a run of events and apply it
set-based: a few statements per run, whatever its length, with each event's effects and the
events published exactly as if they had been applied one at a time. Every run locks the
existing cards it changes with one statement, in id order, before changing any
(`CustomerRepository.lock`): two transactions changing the same cards in any order then queue
up on the first one instead of deadlocking."""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel
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
from crm_runtime.consumer import PoisonMessage, same_workspace
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.registry import Message, Registry
from crm_runtime.scope import apply_rep_changed
from customer_svc.adapters.repository import ANY_WORKSPACE, CustomerRepository
from customer_svc.adapters.tables import rep_teams
from customer_svc.domain.card import Card, card_from_lead, enrich
from customer_svc.domain.status import automatic_status, is_conversation
from customer_svc.service_layer.definitions import FieldDefinitions
from customer_svc.service_layer.numbers import Numbers
from customer_svc.service_layer.publishing import SOURCE, Publisher, snapshot

log = logging.getLogger(__name__)
CHANNEL_KEY_MAX = 200  # intake-svc's channel keys; duplicate_leads.channel_key, customers.created_by (`<kind>:<key>`)
Staged = tuple[str, str, Envelope]  # (topic, key, event) for `Outbox.stage_many`


def _customer_event(workspace: str, customer_id: UUID, payload: BaseModel, cause: Envelope) -> Staged:
    key = str(customer_id)
    return (topics.CUSTOMER_EVENTS, key, new_event(SOURCE, payload, workspace=workspace, subject=key, cause=cause))


def _check_workspace(message: Message[Any], customer_id: UUID, workspaces: dict[UUID, str]) -> None:
    """PoisonMessage when the card exists in another workspace than the event's."""
    if customer_id in workspaces:
        same_workspace(message.event, workspaces[customer_id])


class CustomerHandlers:
    def __init__(self, outbox: Outbox, definitions: FieldDefinitions, numbers: Numbers) -> None:
        self._numbers = numbers
        self._outbox = outbox
        self._publisher = Publisher(outbox)
        self._definitions = definitions

    def registry(self) -> Registry:
        return (
            Registry()
            .on_run(DecisionMade, self.on_decisions)
            .on_run(LeadAssigned, self.on_leads_assigned)
            .on_run(LeadTransferred, self.on_leads_transferred)
            .on(RepChanged, self.on_rep_changed)
            .on(InteractionRecorded, self.on_interaction)
            .on(ContactDatesChanged, self.on_contact_dates)
            .on_run(TimelineEntryRecorded, self.on_entries)
        )

    # -- decisions ---------------------------------------------------------------------------

    async def on_decisions(self, session: AsyncSession, messages: Sequence[Message[DecisionMade]]) -> None:
        """A run of decisions, set-based: the new cards inserted first (one number range per
        workspace, one insert), then the cards the others are about locked in id order and
        changed in memory in partition order, written with one statement, and every event staged
        in partition order with one outbox write."""
        for message in messages:
            if len(message.payload.channel.key) > CHANNEL_KEY_MAX:
                raise PoisonMessage(f"data.channel.key is longer than {CHANNEL_KEY_MAX} characters")
        todo = [m for m in messages if m.payload.customer_id is not None]
        repo = CustomerRepository(session)
        # A card is created before any later decision of the run can be about it; a decision
        # about an existing card never creates one, so creating first keeps every effect.
        created = await self._create(session, repo, [m for m in todo if m.payload.decision is Decision.CREATE])
        existing = [m for m in todo if m.payload.decision in (Decision.ENRICH, Decision.RENEW)]
        duplicates = [m for m in todo if m.payload.decision is Decision.DUPLICATE_LEAD]
        cards = await repo.lock_cards([m.payload.customer_id for m in existing if m.payload.customer_id])
        targets = await repo.workspaces([m.payload.customer_id for m in duplicates if m.payload.customer_id])
        staged: list[Staged] = []
        changed: dict[UUID, Card] = {}
        leads: list[tuple[UUID, str, UUID, str | None, dict[str, Any]]] = []
        for message in todo:
            decided = message.payload
            assert decided.customer_id is not None
            if decided.decision is Decision.CREATE:
                staged.extend(created.get(message.event.id, ()))
            elif decided.decision is Decision.DUPLICATE_LEAD:
                _check_workspace(message, decided.customer_id, targets)
                leads.append(
                    (
                        decided.submission_id,
                        message.workspace,
                        decided.customer_id,
                        decided.channel.key,
                        decided.lead.model_dump(mode="json"),
                    )
                )
                alert = DuplicateLeadRecorded(
                    customer_id=decided.customer_id,
                    duplicate_lead_id=decided.submission_id,
                    channel_key=decided.channel.key,
                    submission_id=decided.submission_id,
                )
                staged.append(_customer_event(message.workspace, decided.customer_id, alert, message.event))
            elif decided.decision in (Decision.ENRICH, Decision.RENEW):
                card = cards.get(decided.customer_id)
                if card is None:
                    raise LookupError(f"decision {decided.submission_id} targets unknown customer {decided.customer_id}")
                staged.extend(await self._enrich(session, message, card))
                changed[card.id] = card
        await repo.save_many(list(changed.values()))
        await repo.add_duplicate_leads(leads)
        await self._outbox.stage_many(session, staged)

    async def _sorted_lead(
        self, session: AsyncSession, workspace: str, decided: DecisionMade, card_type: str
    ) -> tuple[DecisionMade, dict[str, Any]]:
        """The decision with only the custom values the workspace's definitions accept, and the rest."""
        accepted, refused = await self._definitions.sort(session, workspace, decided.lead.fields, card_type)
        if not refused:
            return decided, {}
        return decided.model_copy(update={"lead": decided.lead.model_copy(update={"fields": accepted})}), refused

    async def _create(
        self, session: AsyncSession, repo: CustomerRepository, creations: list[Message[DecisionMade]]
    ) -> dict[UUID, list[Staged]]:
        """New cards: one lookup, one number range per workspace, one insert; the
        `CustomerCreated` each creating event stages (by event id; a redelivery stages nothing)."""
        if not creations:
            return {}
        known = await repo.workspaces([m.payload.customer_id for m in creations if m.payload.customer_id])
        fresh: dict[UUID, Message[DecisionMade]] = {}
        for message in creations:
            customer_id = message.payload.customer_id
            assert customer_id is not None
            if customer_id in known:  # a redelivery: the card exists (in this workspace only)
                same_workspace(message.event, known[customer_id])
            elif fresh.setdefault(customer_id, message).workspace != message.workspace:
                same_workspace(message.event, fresh[customer_id].workspace)
        numbers: dict[str, list[int]] = {}
        for workspace in sorted({m.workspace for m in fresh.values()}):
            count = sum(1 for m in fresh.values() if m.workspace == workspace)
            numbers[workspace] = await self._numbers.take(workspace, count)
        cards, staged = [], {}
        now = datetime.now(UTC)
        for customer_id, message in fresh.items():
            event = message.event
            decided, refused = await self._sorted_lead(session, event.workspace, message.payload, "lead")
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
            staged[event.id] = [_customer_event(event.workspace, card.id, payload, event)]
        await repo.add_many(cards)
        return staged

    async def _enrich(self, session: AsyncSession, message: Message[DecisionMade], found: Card) -> list[Staged]:
        """Enrich or renew (also an import's reset) a locked card in memory; the events it publishes."""
        event = message.event
        same_workspace(event, found.workspace)
        decided, refused = await self._sorted_lead(session, found.workspace, message.payload, found.card_type)
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
        enriched = CustomerEnriched(
            customer_id=found.id,
            filled_fields=filled,
            submission_id=decided.submission_id,
            channel_key=decided.channel.key,
            customer=snapshot(found),
        )
        staged = [_customer_event(event.workspace, found.id, enriched, event)]
        if found.status != previous:
            changed = CustomerStatusChanged(
                customer_id=found.id,
                status=found.status,
                previous_status=previous,
                reason=f"lead {decided.submission_id} via {decided.channel.key} ({decided.channel.duplicate_policy})",
                cause="decision",
                actor=f"{decided.channel.kind.value}:{decided.channel.key}",
            )
            staged.append(_customer_event(event.workspace, found.id, changed, event))
        return staged

    # -- owners ------------------------------------------------------------------------------

    async def on_rep_changed(self, session: AsyncSession, message: Message[RepChanged]) -> None:
        """A rep's team as allocation-svc last published it (the `team` scope reads `rep_teams`)."""
        await apply_rep_changed(session, rep_teams, message.workspace, message.payload)

    async def on_leads_assigned(self, session: AsyncSession, messages: Sequence[Message[LeadAssigned]]) -> None:
        await self._set_owners(session, [(m, m.payload.customer_id, m.payload.owner_id) for m in messages])

    async def on_leads_transferred(self, session: AsyncSession, messages: Sequence[Message[LeadTransferred]]) -> None:
        await self._set_owners(session, [(m, m.payload.customer_id, m.payload.to_owner_id) for m in messages])

    async def _set_owners(self, session: AsyncSession, changes: list[tuple[Message[Any], UUID, UUID]]) -> None:
        """A run of owner changes: the cards locked in id order (one statement), each change
        applied in partition order in memory (its previous owner is the one before it), the final
        owners written with one statement and a `CustomerOwnerAssigned` per change of owner staged
        with one outbox write. A card of another workspace is poison; an unknown card a LookupError."""
        repo = CustomerRepository(session)
        locked = await repo.lock([customer_id for _, customer_id, _ in changes])
        owners: dict[UUID, UUID] = {}
        staged: list[Staged] = []
        for message, customer_id, owner_id in changes:
            if customer_id not in locked:
                raise LookupError(f"owner change for unknown customer {customer_id}")
            workspace, current = locked[customer_id]
            same_workspace(message.event, workspace)
            previous = owners.get(customer_id, current)
            owners[customer_id] = owner_id
            if previous != owner_id:
                payload = CustomerOwnerAssigned(customer_id=customer_id, owner_id=owner_id, previous_owner_id=previous)
                staged.append(_customer_event(message.workspace, customer_id, payload, message.event))
        await repo.set_owners(owners)
        await self._outbox.stage_many(session, staged)

    # -- timeline facts ----------------------------------------------------------------------

    async def _card(self, session: AsyncSession, customer_id: UUID) -> Card | None:
        """The card a timeline fact is about, following merges to the surviving card."""
        repo = CustomerRepository(session)
        card = await repo.get(customer_id, ANY_WORKSPACE, for_update=True)
        seen = set()
        while card is not None and card.merged_into is not None and card.id not in seen:
            seen.add(card.id)
            card = await repo.get(card.merged_into, ANY_WORKSPACE, for_update=True)
        return card

    async def on_interaction(self, session: AsyncSession, message: Message[InteractionRecorded]) -> None:
        """Automatic statuses (DESIGN 4.2): a fact moves a card forward, never backwards."""
        event, fact = message.event, message.payload
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

    async def on_entries(self, session: AsyncSession, messages: Sequence[Message[TimelineEntryRecorded]]) -> None:
        """The newest timeline entry of each card, shown on list rows: the cards locked in id
        order, then every card's newest entry of the run written with one statement (only where
        it is newer than the card's)."""
        repo = CustomerRepository(session)
        cards = await repo.lock([m.payload.customer_id for m in messages])
        latest: dict[UUID, tuple[datetime, str]] = {}
        for message in messages:
            entry = message.payload
            if entry.customer_id not in cards:
                continue  # an entry of a card not (yet) here changes nothing
            same_workspace(message.event, cards[entry.customer_id][0])
            if entry.customer_id not in latest or latest[entry.customer_id][0] <= entry.occurred_at:
                latest[entry.customer_id] = (entry.occurred_at, entry.summary)
        await repo.note_latest_events(latest)

    async def on_contact_dates(self, session: AsyncSession, message: Message[ContactDatesChanged]) -> None:
        dates = message.payload
        repo = CustomerRepository(session)
        if not await repo.set_contact_dates(dates.customer_id, message.workspace, dates.last_contact_at, dates.next_contact_at):
            other = (await repo.workspaces([dates.customer_id])).get(dates.customer_id)
            if other is not None:
                same_workspace(message.event, other)
            log.warning("contact dates for unknown customer %s ignored", dates.customer_id)
