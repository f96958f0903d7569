"""The read side: a card with its links and contacts, lists and search, the duplicate-lead table."""

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.permissions import FieldAccess
from crm_runtime.access import Caller
from crm_runtime.permissions import field_access
from crm_runtime.problems import Problem, invalid_fields
from customer_svc.adapters.people import PeopleRepository
from customer_svc.adapters.repository import CustomerRepository, not_deleted, reach, reach_branches
from customer_svc.domain.contacts import Contact
from customer_svc.domain.counts import Count, CountBy
from customer_svc.domain.filters import CardFilter
from customer_svc.domain.search import search_document
from customer_svc.domain.status import allowed_manual
from customer_svc.service_layer.definitions import FieldDefinitions, check_values

# The card fields the search document is made of (domain.search.search_document).
SEARCHED = ("first_name", "last_name", "company_name", "national_id", "phones", "emails")
SUBSTRING_MIN = 3  # as the repository's search: shorter terms match the start of a word


def _term_in(document: str, term: str) -> bool:
    if len(term) < SUBSTRING_MIN:
        return document.startswith(term) or (" " + term) in document
    return term in document


def visible_match(caller: Caller, terms: list[str]) -> Callable[[Any], bool] | None:
    """When the caller's role hides a field the search document holds (a national id, phones
    ...), a row found only through it would tell the hidden value: the predicate keeping the
    rows every term finds in their visible fields. None when nothing searched is hidden."""
    hidden = {name for name in SEARCHED if field_access(caller.permissions, name) is FieldAccess.HIDDEN}
    if not terms or not hidden:
        return None

    def matches(row: Any) -> bool:
        values = row if isinstance(row, Mapping) else row._mapping  # a row mapping (export) or a row (list)
        shown = {name: None if name in hidden else values[name] for name in SEARCHED}
        document = search_document(
            first_name=shown["first_name"],
            last_name=shown["last_name"],
            company_name=shown["company_name"],
            national_id=shown["national_id"],
            phones=shown["phones"] or [],
            emails=shown["emails"] or [],
        )
        return all(_term_in(document, term) for term in terms)

    return matches


@dataclass
class CardView:
    row: Any
    parent_ids: list[UUID] = field(default_factory=list)
    child_ids: list[UUID] = field(default_factory=list)
    broker_ids: list[UUID] = field(default_factory=list)
    brokered_ids: list[UUID] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)


@dataclass(frozen=True)
class Transitions:
    """A card's status now and the manual moves the rules allow from it (none for a merged card)."""

    current: str
    allowed: tuple[str, ...]


class CustomerQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], definitions: FieldDefinitions) -> None:
        self._sessions = sessions
        self._definitions = definitions

    async def _view(self, session: AsyncSession, row: Any) -> CardView | None:
        if row is None:
            return None
        people = PeopleRepository(session)
        view = CardView(row, contacts=await people.contacts_of([row.id]))
        for a, b, kind in await people.relations_of([row.id]):
            if kind == "parent":
                (view.parent_ids if b == row.id else view.child_ids).append(a if b == row.id else b)
            else:
                (view.broker_ids if b == row.id else view.brokered_ids).append(a if b == row.id else b)
        return view

    async def get(self, customer_id: UUID, caller: Caller) -> CardView | None:
        """The card of the caller's workspace with that id, within its reach; None otherwise (a
        card of another workspace, out of scope or deleted: like no card)."""
        async with self._sessions() as session:
            return await self._view(session, await CustomerRepository(session).row(customer_id, caller.workspace, reach(caller)))

    async def transitions(self, customer_id: UUID, caller: Caller) -> Transitions | None:
        """The status moves a person may ask for on the card now (`domain.status.allowed_manual`
        with the card's facts); None for a card out of the caller's reach."""
        async with self._sessions() as session:
            row = await CustomerRepository(session).row(customer_id, caller.workspace, reach(caller))
        if row is None:
            return None
        if row.merged_into is not None:
            return Transitions(row.status, ())
        return Transitions(row.status, allowed_manual(row.status, conversed=row.last_conversation_at is not None))

    async def known(self, customer_id: UUID, workspace: str) -> dict[str, Any]:
        """What anyone of the workspace may know of a card they do not reach (the duplicate
        dialog's rule, seed 002): its id, number and owner."""
        async with self._sessions() as session:
            row = await CustomerRepository(session).row(customer_id, workspace, not_deleted())
        if row is None:
            raise Problem(404, "Customer not found")
        return {"id": str(row.id), "number": row.number, "owner_id": row.owner_id and str(row.owner_id)}

    async def by_number(self, caller: Caller, number: int) -> CardView | None:
        async with self._sessions() as session:
            return await self._view(session, await CustomerRepository(session).row_by_number(caller.workspace, number, reach(caller)))

    async def _checked(self, session: AsyncSession, workspace: str, where: CardFilter) -> CardFilter:
        """`where` with its custom field values checked against the definitions (a 422 naming
        `field.<key>`) and stored as the cards keep them."""
        if not where.fields:
            return where
        any_type = [d.model_copy(update={"card_types": None}) for d in await self._definitions.of(session, workspace)]
        clean, errors = check_values(any_type, where.fields, "lead")
        if errors:
            raise invalid_fields([(e.field.replace("fields.", "field."), e.message) for e in errors])
        return dataclasses.replace(where, fields={**where.fields, **clean})

    async def counts(self, caller: Caller, where: CardFilter, by: CountBy) -> list[Count]:
        """How many of the cards the caller reaches (the list's scope condition, in SQL) and
        `where` keeps fall in each group of `by`."""
        async with self._sessions() as session:
            where = await self._checked(session, caller.workspace, where)
            return await CustomerRepository(session).counts(caller.workspace, where, reach(caller), by)

    async def page(self, caller: Caller, where: CardFilter, after: tuple[datetime, UUID] | None, limit: int) -> list[Any]:
        """A page of the cards the caller reaches (filtered in SQL: a page is never short of
        cards another rep holds)."""
        workspace = caller.workspace
        async with self._sessions() as session:
            where = await self._checked(session, workspace, where)
            within, alternatives = reach_branches(caller)
            return await CustomerRepository(session).page(workspace, where, after, limit, within, alternatives)

    async def duplicate_leads(self, caller: Caller, customer_id: UUID | None, after: tuple[datetime, UUID] | None, limit: int) -> list[Any]:
        """The duplicate leads of the cards the caller reaches (of one card: 404 for one out of
        reach or of another workspace)."""
        async with self._sessions() as session:
            repo = CustomerRepository(session)
            within = reach(caller)
            if customer_id is not None and not await repo.exists(customer_id, caller.workspace, within):
                raise Problem(404, "Customer not found", field="customer_id")
            return await repo.duplicate_leads(caller.workspace, customer_id, after, limit, within)
