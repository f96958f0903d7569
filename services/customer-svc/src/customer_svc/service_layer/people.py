"""Contacts of a customer and the links between customers (parent / child / broker)."""

import uuid
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_runtime.access import Access, Caller
from crm_runtime.audit import AuditTrail
from crm_runtime.db import retry_transient
from crm_runtime.problems import Problem
from crm_runtime.scope import refuse_unwritable
from customer_svc.adapters.people import PeopleRepository
from customer_svc.adapters.repository import CustomerRepository, reach
from customer_svc.domain.card import Card
from customer_svc.domain.contacts import Contact, contact_errors, normalise_id_number
from customer_svc.domain.edits import FieldProblem, email_entries, phone_entries
from customer_svc.service_layer.commands import NewContact, NewRelation
from customer_svc.service_layer.guards import invalid, live
from customer_svc.service_layer.publishing import Publisher

# A relation as asked for from one card → (from_id is the other card?, stored kind).
_LINKS = {"parent": (True, "parent"), "child": (False, "parent"), "broker": (True, "broker"), "brokered": (False, "broker")}


def check_contact(contact: Contact, card: Card) -> None:
    errors = contact_errors(contact, customer_is_corporation=card.id_type == "company")
    if errors:
        raise invalid([FieldProblem(field, message) for field, message in errors])


class PeopleService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], publisher: Publisher, region: str, access: Access, audit: AuditTrail
    ) -> None:
        self._access = access
        self._audit = audit
        self._sessions = sessions
        self._publisher = publisher
        self._region = region

    @retry_transient()
    async def add_contact(self, customer_id: UUID, caller: Caller, body: NewContact) -> Contact:
        """On a card the caller reaches (404 otherwise); the role must let it change `contacts`."""
        await refuse_unwritable(self._access, caller, {"contacts": body.model_dump(mode="json", exclude_unset=True)})
        async with self._sessions() as session, session.begin():
            card = live(await CustomerRepository(session).get(customer_id, caller.workspace, for_update=True, within=reach(caller)))
            try:
                id_number = normalise_id_number(body.id_type or "person", body.id_number) if body.id_number else None
            except ValueError as error:
                raise invalid([FieldProblem("id_number", str(error))]) from error
            contact = Contact(
                id=uuid.uuid4(),
                customer_id=card.id,
                full_name=body.full_name.strip(),
                role=body.role,
                department=[d.strip() for d in body.department if d.strip()],
                phones=phone_entries([p if isinstance(p, str) else p.model_dump() for p in body.phones], self._region),
                emails=email_entries([e if isinstance(e, str) else e.model_dump() for e in body.emails]),
                legal_standing=body.legal_standing,
                id_type=body.id_type,
                id_number=id_number,
                gender=body.gender,
                birth_date=body.birth_date,
                notes=body.notes,
            )
            check_contact(contact, card)
            await PeopleRepository(session).add_contacts([contact])
            await self._publisher.updated(session, card, ["contacts"], caller.actor)
            await self._audit.stage_for(
                session, caller, "contact.create", target_type="customer", target_id=card.id, detail={"contact_id": str(contact.id)}
            )
            return contact

    async def contacts(self, customer_id: UUID, caller: Caller) -> list[Contact]:
        async with self._sessions() as session:
            live(await CustomerRepository(session).get(customer_id, caller.workspace, within=reach(caller)))
            return await PeopleRepository(session).contacts_of([customer_id])

    @retry_transient()
    async def relate(self, customer_id: UUID, caller: Caller, body: NewRelation) -> None:
        """Link two cards the caller reaches; both cards show the link and both get an event."""
        if body.customer_id == customer_id:
            raise invalid([FieldProblem("customer_id", "a card cannot be related to itself")])
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            cards = await repo.get_many([customer_id, body.customer_id], caller.workspace, for_update=True, within=reach(caller))
            if len(cards) < 2:  # a card of another workspace, or out of reach, does not exist for the caller
                raise Problem(404, "Customer not found")
            card, other = (live(c) for c in cards)
            other_first, kind = _LINKS[body.kind]
            link = (other.id, card.id, kind) if other_first else (card.id, other.id, kind)
            people = PeopleRepository(session)
            if kind == "parent" and await self._would_cycle(people, link[0], link[1]):
                raise Problem(409, "Relation refused", "A card cannot be its own ancestor.", rule="parent_cycle")
            if await people.add_relations([link]):
                for each in (card, other):
                    await self._publisher.updated(session, each, ["relations"], caller.actor)
                detail = {"from_id": str(link[0]), "to_id": str(link[1]), "kind": kind}
                await self._audit.stage_for(session, caller, "relation.create", target_type="customer", target_id=card.id, detail=detail)

    async def _would_cycle(self, people: PeopleRepository, parent: UUID, child: UUID) -> bool:
        """True when `child` is already an ancestor of `parent`."""
        seen, frontier = {parent}, [parent]
        while frontier:
            links = await people.relations_of(frontier)
            frontier = [a for a, b, kind in links if kind == "parent" and b in frontier and a not in seen]
            if child in frontier:
                return True
            seen.update(frontier)
        return False
