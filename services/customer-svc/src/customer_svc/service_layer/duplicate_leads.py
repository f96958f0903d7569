"""Acting on a duplicate lead (seed 000 "לידים כפולים"): promote it to a card of its own, merge
it into the card it was found to duplicate, or dismiss it. The lead must belong to a card the
caller reaches (404 otherwise, like no lead); each action removes it from the table and is
audited in the same transaction as its change."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.events import CustomerEnriched
from crm_contracts.leads import Lead
from crm_runtime.access import Access, Caller
from crm_runtime.audit import AuditTrail, changes
from crm_runtime.db import retry_transient
from crm_runtime.problems import Problem, invalid_request
from crm_runtime.scope import refuse_unwritable
from customer_svc.adapters.repository import CustomerRepository, reach
from customer_svc.domain.card import enrich
from customer_svc.domain.edits import CardInvalid, phone_entries
from customer_svc.service_layer.cards import CardService
from customer_svc.service_layer.commands import NewCustomer
from customer_svc.service_layer.definitions import FieldDefinitions
from customer_svc.service_layer.guards import invalid_card, live
from customer_svc.service_layer.publishing import Publisher, audit_view, snapshot

_CARD_ONLY = ("card_type", "folder", "avatar")  # what a lead kept from the new card form adds to a lead


@dataclass(frozen=True)
class Promoted:
    customer_id: UUID


@dataclass(frozen=True)
class Merged:
    customer_id: UUID
    filled_fields: list[str]


def _gone() -> Problem:
    return Problem(404, "Duplicate lead not found")


class DuplicateLeadService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cards: CardService,
        publisher: Publisher,
        definitions: FieldDefinitions,
        region: str,
        access: Access,
        audit: AuditTrail,
    ) -> None:
        self._sessions = sessions
        self._cards = cards
        self._publisher = publisher
        self._definitions = definitions
        self._region = region
        self._access = access
        self._audit = audit

    async def _locked(self, session: AsyncSession, lead_id: UUID, caller: Caller) -> Any:
        row = await CustomerRepository(session).duplicate_lead(lead_id, caller.workspace, reach(caller), for_update=True)
        if row is None:
            raise _gone()
        return row

    @retry_transient()
    async def dismiss(self, lead_id: UUID, caller: Caller) -> None:
        async with self._sessions() as session, session.begin():
            row = await self._locked(session, lead_id, caller)
            await CustomerRepository(session).delete_duplicate_lead(lead_id, caller.workspace)
            await self._audit.stage_for(
                session, caller, "duplicate_lead.dismiss", target_type="customer", target_id=row.customer_id,
                detail={"duplicate_lead_id": str(lead_id)},
            )  # fmt: skip

    async def promote(self, lead_id: UUID, caller: Caller) -> Promoted:
        """A new card from the lead (as "save anyway" would have made it). The lead stays locked
        while the card is made, so two people promoting it at once make one card (the second
        finds no lead: 404); a card that cannot be made (a 422 naming the field) keeps the lead."""
        async with self._sessions() as session, session.begin():
            row = await self._locked(session, lead_id, caller)
            try:
                body = NewCustomer.model_validate(row.lead)
            except ValidationError as error:
                raise invalid_request(error.errors()) from error
            outcome = await self._cards.create(caller, body, "save_anyway", None)
            await CustomerRepository(session).delete_duplicate_lead(lead_id, caller.workspace)
            await self._audit.stage_for(
                session, caller, "duplicate_lead.promote", target_type="customer", target_id=outcome.customer_id,
                detail={"duplicate_lead_id": str(lead_id), "found_customer_id": str(row.customer_id)},
            )  # fmt: skip
            return Promoted(outcome.customer_id)

    @retry_transient()
    async def merge(self, lead_id: UUID, caller: Caller) -> Merged:
        """The lead's details fill what the found card lacks (never overwriting: as enrichment
        does); a field the caller's role may not change is a 403 naming it."""
        async with self._sessions() as session, session.begin():
            row = await self._locked(session, lead_id, caller)
            repo = CustomerRepository(session)
            card = live(await repo.get(row.customer_id, caller.workspace, for_update=True, within=reach(caller)))
            try:
                lead = Lead.model_validate({k: v for k, v in row.lead.items() if k not in _CARD_ONLY})
                phones = phone_entries(lead.phones, self._region)
            except ValidationError as error:
                raise invalid_request(error.errors()) from error
            except CardInvalid as error:
                raise invalid_card(error) from error
            before = audit_view(card)
            values = dict(card.fields)
            fields = {k: v for k, v in lead.fields.items() if values.get(k) in (None, "")}
            if fields:
                clean = await self._definitions.check(session, card.workspace, fields, card.card_type)
                lead = lead.model_copy(update={"fields": {k: v for k, v in clean.items() if v is not None}})
            else:
                lead = lead.model_copy(update={"fields": {}})
            by_value = {p["value"]: p["e164"] for p in phones}
            filled = enrich(card, lead, [by_value.get(v.strip()) for v in lead.phones])
            after = audit_view(card)
            if filled:
                written: dict[str, Any] = {name: after.get(name) for name in filled if not name.startswith("fields.")}
                if lead.fields:
                    written["fields"] = dict(lead.fields)
                await refuse_unwritable(self._access, caller, written)
                await repo.save(card)
                enriched = CustomerEnriched(customer_id=card.id, filled_fields=filled, channel_key=row.channel_key, customer=snapshot(card))
                await self._publisher.publish(session, card.workspace, card.id, enriched)
            await repo.delete_duplicate_lead(lead_id, caller.workspace)
            old, new = changes(before, after)
            await self._audit.stage_for(
                session, caller, "duplicate_lead.merge", target_type="customer", target_id=card.id, before=old, after=new,
                detail={"duplicate_lead_id": str(lead_id), "filled_fields": filled},
            )  # fmt: skip
            return Merged(card.id, filled)
