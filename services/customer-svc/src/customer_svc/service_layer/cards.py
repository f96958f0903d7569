"""What people do to one card: create (with the duplicate dialog), edit, status, convert, copy,
its team members. Every method takes the `Caller`: the card must be within its reach (else 404,
like a missing card), what it writes must be fields its role may change (else 403 naming them),
and the change is audited in the same transaction (`crm_runtime.audit`)."""

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.events import CustomerCreated, CustomerStatusChanged, DuplicateLeadRecorded
from crm_contracts.leads import Lead
from crm_contracts.permissions import MATCH_REASON_FIELDS, FieldAccess
from crm_runtime.access import Access, Caller
from crm_runtime.audit import AuditTrail, changes
from crm_runtime.db import retry_transient
from crm_runtime.permissions import field_access
from crm_runtime.problems import Problem
from crm_runtime.scope import refuse_unwritable
from customer_svc.adapters.dedup_client import DedupClient, DedupUnavailable
from customer_svc.adapters.people import PeopleRepository
from customer_svc.adapters.repository import CustomerRepository, not_deleted, reach
from customer_svc.domain.card import Card, card_from_lead
from customer_svc.domain.contacts import Contact, normalise_id_number
from customer_svc.domain.edits import CardInvalid, FieldProblem, apply_changes, email_entries, phone_entries
from customer_svc.domain.status import TransitionRefused, check_manual
from customer_svc.service_layer.commands import DUPLICATE_ACTIONS, CustomerChanges, NewCustomer, TeamChange
from customer_svc.service_layer.definitions import FieldDefinitions
from customer_svc.service_layer.guards import invalid, invalid_card, live
from customer_svc.service_layer.numbers import Numbers
from customer_svc.service_layer.people import check_contact
from customer_svc.service_layer.publishing import Publisher, audit_view, snapshot

_IDENTITY = ("first_name", "last_name", "company_name", "phones", "emails", "national_id", "birth_date", "addresses", "account_number")


@dataclass
class Outcome:
    """What a manual create did: `created` a card, stored a `duplicate_lead`, or added a `contact`."""

    kind: str
    customer_id: UUID
    contact_id: UUID | None = None
    duplicate_lead_id: UUID | None = None


def _hidden(caller: Caller, *paths: str) -> bool:
    return any(field_access(caller.permissions, p) is FieldAccess.HIDDEN for p in paths)


def dialog_candidate(caller: Caller, candidate: dict[str, Any], known: tuple[int, UUID | None, bool] | None) -> dict[str, Any]:
    """A candidate of the duplicate dialog as `caller` may see it (seed 002): one within reach
    without the fields the role hides (`in_scope: true`); one out of reach (or unknown here) only
    as its id, number, owner, score and the kinds of identifiers that matched (`in_scope: false`)."""
    number, owner_id, reached = known if known is not None else (candidate.get("number"), None, False)
    owner = None if owner_id is None else str(owner_id)  # a JSON problem document
    reasons = [r for r in candidate.get("matched_on") or [] if isinstance(r, dict)]
    if not reached:
        return {
            "customer_id": candidate.get("customer_id"),
            "number": number,
            "owner_id": owner,
            "score": candidate.get("score", 0.0),
            "level": candidate.get("level", ""),
            "matched_on": [{k: r.get(k) for k in ("identifier", "match", "score") if k in r} for r in reasons],
            "in_scope": False,
        }
    shown: dict[str, Any] = {**candidate, "number": number, "owner_id": owner, "in_scope": True}
    shown["matched_on"] = [
        {k: v for k, v in r.items() if k != "value"} if _hidden(caller, *MATCH_REASON_FIELDS.get(str(r.get("identifier")), ())) else r
        for r in reasons
    ]
    if _hidden(caller, *MATCH_REASON_FIELDS["name"]):
        shown.pop("name", None)
    for name in ("number", "owner_id", "status"):
        if _hidden(caller, name):
            shown.pop(name, None)
    return shown


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _written(body: NewCustomer) -> dict[str, Any]:
    """A create body as the card's field paths (`affiliate` is the card's `broker`), for the
    read-only / hidden check."""
    sent = body.model_dump(mode="json", exclude_unset=True, exclude={"external_id", "notes"})
    if "affiliate" in sent:
        sent["broker"] = sent.pop("affiliate")
    return sent


class CardService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        dedup: DedupClient,
        definitions: FieldDefinitions,
        region: str,
        access: Access,
        audit: AuditTrail,
    ) -> None:
        self._access = access
        self._audit = audit
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

    async def _ask(self, caller: Caller, body: NewCustomer) -> None:
        """The 409 of the duplicate dialog when dedup-svc knows candidates (each as the caller may
        see it: `dialog_candidate`)."""
        identity = body.model_dump(mode="json", include=set(_IDENTITY), exclude_none=True)
        try:
            candidates = await self._dedup.match(caller.workspace, identity)
        except DedupUnavailable as error:
            raise Problem(503, "Duplicate check unavailable", str(error)) from error
        if not candidates:
            return
        keys = [_uuid(c.get("customer_id")) for c in candidates]
        async with self._sessions() as session:
            known = await CustomerRepository(session).reachable([k for k in keys if k], caller.workspace, reach(caller))
        shown = [dialog_candidate(caller, c, known.get(k) if k else None) for c, k in zip(candidates, keys, strict=True)]
        raise Problem(
            409,
            "Possible duplicates",
            f"{len(candidates)} known card(s) may be this person; repeat with on_duplicate set to one of the actions.",
            candidates=shown,
            actions=["back", *DUPLICATE_ACTIONS],
        )

    @retry_transient()
    async def create(self, caller: Caller, body: NewCustomer, on_duplicate: str, target_id: UUID | None) -> Outcome:
        """Flow 6. `ask` with candidates raises the 409 of the duplicate dialog. The target of
        `duplicate_lead` may be a card out of the caller's reach (the dialog offers it: the lead
        is kept for the card's owner); `add_as_contact` and `child` change or link the target, so
        it must be within reach (404 otherwise)."""
        workspace, actor = caller.workspace, caller.actor
        await refuse_unwritable(self._access, caller, _written(body))
        if on_duplicate == "add_as_contact":  # the person typed becomes a contact of the card
            await refuse_unwritable(self._access, caller, {"contacts": {"full_name": body.last_name or body.company_name}})
        card = self._validated_card(workspace, body, actor)
        if caller.rep_id is not None:
            # The member's rep works the card they typed in (it is `own` for them) until allocation names its owner.
            card.team_member_ids = [caller.rep_id]
        if on_duplicate == "ask":
            await self._ask(caller, body)
        if on_duplicate in ("duplicate_lead", "add_as_contact", "child") and target_id is None:
            raise invalid([FieldProblem("target_customer_id", f"is required with on_duplicate={on_duplicate}")])
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            within = reach(caller)
            target: Card | None = None
            if target_id and on_duplicate == "duplicate_lead":
                # Any live card of the workspace (the dialog names cards out of reach too); one of
                # another workspace, or deleted, does not exist for the caller: 404 like an unknown id.
                target = live(await repo.get(target_id, workspace, for_update=True, within=not_deleted()))
            elif target_id and on_duplicate != "save_anyway":
                target = live(await repo.get(target_id, workspace, for_update=True, within=within))
            if on_duplicate == "duplicate_lead" and target:
                entry_id = uuid.uuid4()
                await repo.add_duplicate_lead(entry_id, workspace, target.id, "ui", body.model_dump(mode="json", exclude_none=True))
                alert = DuplicateLeadRecorded(customer_id=target.id, duplicate_lead_id=entry_id, channel_key="ui")
                await self._publisher.publish(session, workspace, target.id, alert)
                await self._audit.stage_for(
                    session,
                    caller,
                    "duplicate_lead.create",
                    target_type="customer",
                    target_id=target.id,
                    detail={"duplicate_lead_id": str(entry_id)},
                )
                return Outcome("duplicate_lead", target.id, duplicate_lead_id=entry_id)
            if on_duplicate == "add_as_contact" and target:
                contact = self._contact_from(body, target)
                check_contact(contact, target)
                await PeopleRepository(session).add_contacts([contact])
                await self._publisher.updated(session, target, ["contacts"], actor)
                await self._audit.stage_for(
                    session, caller, "contact.create", target_type="customer", target_id=target.id, detail={"contact_id": str(contact.id)}
                )
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
            detail: dict[str, Any] = {"number": card.number, "on_duplicate": on_duplicate}
            if parents:
                detail["parent_id"] = str(parents[0])
            await self._audit.stage_for(
                session, caller, "customer.create", target_type="customer", target_id=card.id, after=audit_view(card), detail=detail
            )
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
    async def update(self, customer_id: UUID, caller: Caller, edit: CustomerChanges) -> None:
        """Only what was sent changes; a field the role may not change is a 403 naming it."""
        sent = edit.model_dump(exclude_unset=True)
        await refuse_unwritable(self._access, caller, edit.model_dump(mode="json", exclude_unset=True))
        values = sent.pop("fields", None)
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            card = live(await repo.get(customer_id, caller.workspace, for_update=True, within=reach(caller)))
            before = audit_view(card)
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
                await self._publisher.updated(session, card, changed, caller.actor)
                old, new = changes(before, audit_view(card))
                await self._audit.stage_for(
                    session, caller, "customer.update", target_type="customer", target_id=card.id, before=old, after=new
                )

    @retry_transient()
    async def change_status(self, customer_id: UUID, caller: Caller, status: str, reason: str | None) -> None:
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            card = live(await repo.get(customer_id, caller.workspace, for_update=True, within=reach(caller)))
            try:
                check_manual(card.status, status, conversed=card.last_conversation_at is not None)
            except TransitionRefused as refused:
                raise Problem(409, "Status change refused", refused.message, rule=refused.rule, status_now=card.status) from refused
            previous, card.status = card.status, status
            await repo.save(card)
            payload = CustomerStatusChanged(
                customer_id=card.id, status=status, previous_status=previous, reason=reason, cause="manual", actor=caller.actor
            )
            await self._publisher.publish(session, card.workspace, card.id, payload)
            await self._audit.stage_for(
                session,
                caller,
                "customer.status",
                target_type="customer",
                target_id=card.id,
                before={"status": previous},
                after={"status": status},
            )

    @retry_transient()
    async def convert(self, customer_id: UUID, caller: Caller, card_type: str) -> None:
        """A lead becomes a customer (or another type): the same card, its history and number kept."""
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            card = live(await repo.get(customer_id, caller.workspace, for_update=True, within=reach(caller)))
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
            await self._publisher.updated(session, card, ["card_type"], caller.actor)
            await self._audit.stage_for(
                session,
                caller,
                "customer.convert",
                target_type="customer",
                target_id=card.id,
                before={"card_type": "lead"},
                after={"card_type": card_type},
            )

    @retry_transient()
    async def copy(self, customer_id: UUID, caller: Caller, workspace: str) -> UUID:
        """The card the caller reaches as is in `workspace`, with a number of that workspace (no
        duplicate check). The caller checked that the actor may create cards in `workspace`.
        Audited in both workspaces (the source's copy, the target's create)."""
        actor = caller.actor
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            people = PeopleRepository(session)
            source = live(await repo.get(customer_id, caller.workspace, within=reach(caller)))
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
                team_member_ids=[],
            )
            await repo.add_many([copy])
            contacts = await people.contacts_of([source.id])
            await people.add_contacts([dataclasses.replace(c, id=uuid.uuid4(), customer_id=copy.id) for c in contacts])
            created = CustomerCreated(customer=snapshot(copy), channel_kind="copy", copied_from=source.id)
            await self._publisher.publish(session, workspace, copy.id, created)
            detail: dict[str, Any] = {
                "copy_id": str(copy.id),
                "source_id": str(source.id),
                "workspace": workspace,
                "source_workspace": caller.workspace,
            }
            await self._audit.stage_for(session, caller, "customer.copy", target_type="customer", target_id=source.id, detail=detail)
            await self._audit.stage(
                session,
                workspace,
                actor,
                "customer.create",
                target_type="customer",
                target_id=copy.id,
                after=audit_view(copy),
                detail=detail,
            )
            return copy.id

    @retry_transient()
    async def set_team(self, customer_id: UUID, caller: Caller, body: TeamChange) -> None:
        """The card's team members (seed 002 "עובדים"): reps for whom the card is `own`."""
        await refuse_unwritable(self._access, caller, {"team_member_ids": [str(i) for i in body.team_member_ids]})
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            card = live(await repo.get(customer_id, caller.workspace, for_update=True, within=reach(caller)))
            before = [str(i) for i in card.team_member_ids]
            if card.team_member_ids == body.team_member_ids:
                return
            card.team_member_ids = list(body.team_member_ids)
            await repo.set_team(card.id, card.team_member_ids)
            await self._publisher.updated(session, card, ["team_member_ids"], caller.actor)
            await self._audit.stage_for(
                session,
                caller,
                "customer.team",
                target_type="customer",
                target_id=card.id,
                before={"team_member_ids": before},
                after={"team_member_ids": [str(i) for i in card.team_member_ids]},
            )
