"""What people do to one card: create (with the duplicate dialog), edit, status, convert, copy."""

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.events import CustomerCreated, CustomerStatusChanged, DuplicateLeadRecorded
from crm_contracts.leads import Lead
from crm_runtime.db import retry_transient
from crm_runtime.problems import Problem
from customer_svc.adapters.dedup_client import DedupClient, DedupUnavailable
from customer_svc.adapters.people import PeopleRepository
from customer_svc.adapters.repository import CustomerRepository
from customer_svc.domain.card import Card, card_from_lead
from customer_svc.domain.contacts import Contact, normalise_id_number
from customer_svc.domain.edits import CardInvalid, FieldProblem, apply_changes, email_entries, phone_entries
from customer_svc.domain.status import TransitionRefused, check_manual
from customer_svc.service_layer.commands import DUPLICATE_ACTIONS, CustomerChanges, NewCustomer
from customer_svc.service_layer.definitions import FieldDefinitions
from customer_svc.service_layer.guards import invalid, invalid_card, live
from customer_svc.service_layer.numbers import Numbers
from customer_svc.service_layer.people import check_contact
from customer_svc.service_layer.publishing import Publisher, snapshot

_IDENTITY = ("first_name", "last_name", "company_name", "phones", "emails", "national_id", "birth_date", "addresses", "account_number")


@dataclass
class Outcome:
    """What a manual create did: `created` a card, stored a `duplicate_lead`, or added a `contact`."""

    kind: str
    customer_id: UUID
    contact_id: UUID | None = None
    duplicate_lead_id: UUID | None = None


class CardService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        dedup: DedupClient,
        definitions: FieldDefinitions,
        region: str,
    ) -> None:
        self._numbers = Numbers(sessions)
        self._sessions = sessions
        self._publisher = publisher
        self._dedup = dedup
        self._definitions = definitions
        self._region = region

    def _validated_card(self, workspace: str, body: NewCustomer, actor: str) -> Card:
        """A numberless card from the body, or a 422 naming each bad field."""
        card = card_from_lead(
            uuid.uuid4(), workspace, 500_000, Lead(), [], created_by=f"ui:{actor}", created_at=datetime.now(UTC), token=None
        )
        changes = body.model_dump(include=set(_IDENTITY) | {"card_type", "id_type", "branch", "tags", "folder", "avatar"})
        changes["broker"] = body.affiliate.model_dump() if body.affiliate else None
        changes["addresses"] = [a.model_dump() for a in body.addresses]
        try:
            apply_changes(card, {k: v for k, v in changes.items() if v not in (None, [])} | {"card_type": body.card_type}, self._region)
        except CardInvalid as error:
            raise invalid_card(error) from error
        if not (card.last_name or card.company_name):
            raise invalid([FieldProblem("last_name", "a card needs a last name or a company name")])
        return card

    @retry_transient()
    async def create(self, workspace: str, body: NewCustomer, on_duplicate: str, target_id: UUID | None, actor: str) -> Outcome:
        """Flow 6. `ask` with candidates raises the 409 of the duplicate dialog."""
        card = self._validated_card(workspace, body, actor)
        if on_duplicate == "ask":
            identity = body.model_dump(mode="json", include=set(_IDENTITY), exclude_none=True)
            try:
                candidates = await self._dedup.match(workspace, identity)
            except DedupUnavailable as error:
                raise Problem(503, "Duplicate check unavailable", str(error)) from error
            if candidates:
                raise Problem(
                    409,
                    "Possible duplicates",
                    f"{len(candidates)} known card(s) may be this person; repeat with on_duplicate set to one of the actions.",
                    candidates=candidates,
                    actions=["back", *DUPLICATE_ACTIONS],
                )
        if on_duplicate in ("duplicate_lead", "add_as_contact", "child") and target_id is None:
            raise invalid([FieldProblem("target_customer_id", f"is required with on_duplicate={on_duplicate}")])
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            # A card of another workspace does not exist for the caller: 404 like an unknown id.
            target = live(await repo.get(target_id, workspace, for_update=True)) if target_id and on_duplicate != "save_anyway" else None
            if on_duplicate == "duplicate_lead" and target:
                entry_id = uuid.uuid4()
                await repo.add_duplicate_lead(entry_id, workspace, target.id, "ui", body.model_dump(mode="json", exclude_none=True))
                alert = DuplicateLeadRecorded(customer_id=target.id, duplicate_lead_id=entry_id, channel_key="ui")
                await self._publisher.publish(session, workspace, target.id, alert)
                return Outcome("duplicate_lead", target.id, duplicate_lead_id=entry_id)
            if on_duplicate == "add_as_contact" and target:
                contact = self._contact_from(body, target)
                check_contact(contact, target)
                await PeopleRepository(session).add_contacts([contact])
                await self._publisher.updated(session, target, ["contacts"], actor)
                return Outcome("contact", target.id, contact_id=contact.id)
            card.fields = await self._definitions.check(session, workspace, body.fields, card.card_type, whole={})
            card.fields = {k: v for k, v in card.fields.items() if v is not None}
            card.number = (await self._numbers.take(workspace, 1))[0]
            await repo.add_many([card])
            parents = []
            if on_duplicate == "child" and target:
                await PeopleRepository(session).add_relations([(target.id, card.id, "parent")])
                parents = [target.id]
            created = CustomerCreated(customer=snapshot(card, parent_ids=parents), channel_kind="ui")
            await self._publisher.publish(session, workspace, card.id, created)
            return Outcome("created", card.id)

    def _contact_from(self, body: NewCustomer, target: Card) -> Contact:
        """`add_as_contact`: the person typed becomes a contact of the chosen card."""
        name = " ".join(p for p in (body.first_name, body.last_name or body.company_name) if p)
        id_type = body.id_type.value if body.id_type else ("person" if body.national_id else None)
        contact = Contact(
            id=uuid.uuid4(),
            customer_id=target.id,
            full_name=name or "(no name)",
            phones=phone_entries(body.phones, self._region),
            emails=email_entries(body.emails),
            id_type=id_type,
            id_number=normalise_id_number(id_type, body.national_id) if id_type and body.national_id else None,
            birth_date=body.birth_date,
            notes=body.notes,
        )
        return contact

    @retry_transient()
    async def update(self, customer_id: UUID, workspace: str, changes: CustomerChanges, actor: str) -> None:
        sent = changes.model_dump(exclude_unset=True)
        values = sent.pop("fields", None)
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            card = live(await repo.get(customer_id, workspace, for_update=True))
            try:
                changed = apply_changes(card, sent, self._region)
            except CardInvalid as error:
                raise invalid_card(error) from error
            if values is not None or "card_type" in changed:
                clean = await self._definitions.check(session, card.workspace, values or {}, card.card_type, whole=card.fields)
                merged = {k: v for k, v in {**card.fields, **clean}.items() if v is not None}
                if merged != card.fields:
                    card.fields = merged
                    changed.append("fields")
            if changed:
                await repo.save(card)
                await self._publisher.updated(session, card, changed, actor)

    @retry_transient()
    async def change_status(self, customer_id: UUID, workspace: str, status: str, reason: str | None, actor: str) -> None:
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            card = live(await repo.get(customer_id, workspace, for_update=True))
            try:
                check_manual(card.status, status, conversed=card.last_conversation_at is not None)
            except TransitionRefused as refused:
                raise Problem(409, "Status change refused", refused.message, rule=refused.rule, status_now=card.status) from refused
            previous, card.status = card.status, status
            await repo.save(card)
            payload = CustomerStatusChanged(
                customer_id=card.id, status=status, previous_status=previous, reason=reason, cause="manual", actor=actor
            )
            await self._publisher.publish(session, card.workspace, card.id, payload)

    @retry_transient()
    async def convert(self, customer_id: UUID, workspace: str, card_type: str, actor: str) -> None:
        """A lead becomes a customer (or another type): the same card, its history and number kept."""
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            card = live(await repo.get(customer_id, workspace, for_update=True))
            if card.card_type != "lead":
                raise Problem(
                    409, "Not a lead", f"Only a lead can be converted; this card is a {card.card_type}.", rule="only_leads_convert"
                )
            if card_type == "lead":
                raise invalid([FieldProblem("card_type", "a lead converts to another card type")])
            try:
                apply_changes(card, {"card_type": card_type}, self._region)
            except CardInvalid as error:
                raise invalid_card(error) from error
            await repo.save(card)
            await self._publisher.updated(session, card, ["card_type"], actor)

    @retry_transient()
    async def copy(self, customer_id: UUID, source_workspace: str, workspace: str, actor: str) -> UUID:
        """The card of `source_workspace` as is in `workspace`, with a number of that workspace (no
        duplicate check). The caller checked that the actor may act in `workspace`."""
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            people = PeopleRepository(session)
            source = live(await repo.get(customer_id, source_workspace))
            if source.workspace == workspace:
                raise invalid([FieldProblem("workspace", "is the card's own workspace; copy goes to another one")])
            copy = dataclasses.replace(
                source,
                id=uuid.uuid4(),
                workspace=workspace,
                number=(await self._numbers.take(workspace, 1))[0],
                created_by=f"copy:{actor}",  # the channel `copy`, by whom (the event names the source card)
                created_at=datetime.now(UTC),
                owner_id=None,  # owners are reps of a workspace; the target's rules assign one
            )
            await repo.add_many([copy])
            contacts = await people.contacts_of([source.id])
            await people.add_contacts([dataclasses.replace(c, id=uuid.uuid4(), customer_id=copy.id) for c in contacts])
            created = CustomerCreated(customer=snapshot(copy), channel_kind="copy", copied_from=source.id)
            await self._publisher.publish(session, workspace, copy.id, created)
            return copy.id
