"""customer-svc HTTP (DESIGN 5.1): entrypoints parse the request and call the service layer."""

import dataclasses
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from crm_contracts.fields import KEY_PATTERN, FieldDefinition
from crm_contracts.permissions import Action, Section
from crm_contracts.text import storable_problems
from crm_runtime.access import Caller, CallerDep, forbidden, permitted, refusal
from crm_runtime.pagination import decode_cursor, next_cursor
from crm_runtime.problems import PROBLEM_JSON, PROBLEM_SCHEMA, found, invalid_fields, problem_responses
from crm_runtime.scope import visible_to
from customer_svc.bootstrap import Container
from customer_svc.domain.card import FIRST_NUMBER, LAST_NUMBER
from customer_svc.domain.status import LABELS_HE, STATUSES
from customer_svc.entrypoints.guards import ManageCustomFieldsDep
from customer_svc.entrypoints.listing import hidden, list_filter
from customer_svc.entrypoints.schemas import (
    ContactList,
    ContactOut,
    CreateOutcome,
    CustomerDetail,
    CustomerPage,
    DuplicateCandidate,
    DuplicateLeadOut,
    DuplicateLeadPage,
    FieldDefinitionList,
    MergeDone,
    MergeList,
    MergeOut,
    SavedFilterList,
    SavedFilterOut,
    StatusList,
    StatusOut,
    TransitionList,
    TransitionOut,
    UndoDone,
    contact_out,
    detail_out,
    row_out,
)
from customer_svc.service_layer.commands import (
    DUPLICATE_ACTIONS,
    ConvertRequest,
    CopyRequest,
    CustomerChanges,
    FilterParams,
    MergeRequest,
    NewContact,
    NewCustomer,
    NewRelation,
    NewSavedFilter,
    OnDuplicate,
    StatusChange,
    TeamChange,
)
from customer_svc.service_layer.queries import visible_match

# Who acts and where comes from the token (crm_runtime.access); what they may do from their role
# (issue 17, `crm_contracts.permissions`): every card route needs the customers section and its
# action (a refusal is a 403 naming the permission, audited). Reads are also for the services in
# `service_clients` (they hold every permission); changes are people's only (`_member`). Every
# operation by id looks the card up within the caller's reach (workspace, scope, folders, not
# deleted): any other card is a 404, like no card. Every answer carrying card data leaves out the
# fields the caller's role hides (`_card`, `_row`, `_contact`).
#
# Lists: a list is a search (its filters narrow the same data), so every list, plain or not,
# needs `actions.search`; filtering on a field the role hides is a 403 naming it (a filter would
# otherwise tell its values).


def _member(action: Action) -> Any:
    """`permitted(action)` in the customers section, for members only (a service changes nothing here)."""
    guard = permitted(action, Section.CUSTOMERS)

    async def member(caller: Annotated[Caller, Depends(guard)]) -> Caller:
        if caller.role is None:
            raise forbidden("Only a signed-in member of the workspace may do this.")
        return caller

    return member


SearchDep = Annotated[Caller, Depends(permitted(Action.SEARCH, Section.CUSTOMERS))]
OpenDep = Annotated[Caller, Depends(permitted(Action.OPEN_CARD, Section.CUSTOMERS))]
CreateDep = Annotated[Caller, Depends(_member(Action.CREATE))]
EditDep = Annotated[Caller, Depends(_member(Action.EDIT))]
StatusDep = Annotated[Caller, Depends(_member(Action.CHANGE_STATUS))]
MergeDep = Annotated[Caller, Depends(_member(Action.MERGE))]
ConvertDep = Annotated[Caller, Depends(_member(Action.CONVERT))]
CopyDep = Annotated[Caller, Depends(_member(Action.COPY_TO_WORKSPACE))]
FiltersDep = Annotated[Caller, Depends(_member(Action.PERSONAL_FILTERS))]


def _contact(caller: Caller, contact: dict[str, Any]) -> dict[str, Any]:
    """A contact as the caller may see it (`contacts.<field>` paths)."""
    shown: dict[str, Any] = visible_to(caller, {"contacts": contact}).get("contacts", {})
    return shown


def _row(caller: Caller, row: BaseModel) -> dict[str, Any]:
    return visible_to(caller, row.model_dump(mode="json"))


def _card(caller: Caller, card: CustomerDetail) -> dict[str, Any]:
    """The card as the caller may see it: hidden fields (custom ones as `fields.<key>`) absent."""
    data = card.model_dump(mode="json")
    contacts = data.pop("contacts")
    shown = visible_to(caller, data)
    if not hidden(caller, "contacts"):
        shown["contacts"] = [_contact(caller, c) for c in contacts]
    return shown


def _json(content: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status_code)


MANUAL = {"not_interested", "frozen", "fictitious", "new", "customer_club"}
FieldKey = Annotated[str, Path(pattern=KEY_PATTERN, description="The custom field's key.")]
CustomerNumber = Annotated[int, Path(ge=FIRST_NUMBER, le=LAST_NUMBER, description=f"{FIRST_NUMBER}..{LAST_NUMBER}.")]

# The 409 of the duplicate dialog (DESIGN flow 6): a problem with the candidates and the actions.
DUPLICATE_FOUND: dict[str, Any] = {
    "description": "Possible duplicates: the problem lists the known cards (`candidates`) and the `actions`; repeat with "
    "`on_duplicate` set to one of them.",
    "content": {
        PROBLEM_JSON: {
            "schema": {
                "allOf": [
                    PROBLEM_SCHEMA,
                    {
                        "type": "object",
                        "properties": {
                            "candidates": {"type": "array", "items": DuplicateCandidate.model_json_schema()},
                            "actions": {"type": "array", "items": {"type": "string", "enum": ["back", *DUPLICATE_ACTIONS]}},
                        },
                    },
                ]
            }
        }
    },
}


def storable(*values: tuple[str, Any]) -> None:
    """A 422 naming every part of the values (`(field prefix, value)`) the store cannot keep."""
    problems = [p for prefix, value in values for p in storable_problems(value, (prefix,) if prefix else ())]
    if problems:
        raise invalid_fields(problems)


def sent(model: BaseModel) -> tuple[str, Any]:
    """A request body as sent, for `storable`."""
    return ("", model.model_dump(mode="python", exclude_unset=True))


def build_router(app: Container) -> APIRouter:  # noqa: C901 - one route table
    router = APIRouter(prefix="/v1", tags=["customers"])
    queries = app.queries
    audit = app.runtime.audit

    async def detail(customer_id: UUID, caller: Caller) -> CustomerDetail:
        return detail_out(found(await queries.get(customer_id, caller), "Customer not found"))

    async def card_answer(customer_id: UUID, caller: Caller, status_code: int = 200) -> JSONResponse:
        return _json(_card(caller, await detail(customer_id, caller)), status_code)

    async def opened(caller: Caller, card: CustomerDetail) -> JSONResponse:
        """A card opened by a person is audited (`customer.open`); services' reads are not."""
        if caller.role is not None:
            await audit.record(caller, "customer.open", target_type="customer", target_id=card.id)
        return _json(_card(caller, card))

    @router.post(
        "/customers",
        response_model=CreateOutcome,
        status_code=201,
        responses={**problem_responses(403, 404, 409, 503), 409: DUPLICATE_FOUND},
    )
    async def create_customer(
        body: NewCustomer,
        caller: CreateDep,
        on_duplicate: OnDuplicate = "ask",
        target_customer_id: UUID | None = None,
    ) -> Any:
        """A field the role may not change is a `403` naming it. `duplicate_lead` may name a card
        the caller does not reach (the dialog offers it, `in_scope: false`): the answer's
        `customer` is then only its `id`, `number` and `owner_id` with `in_scope: false`.
        `add_as_contact` and `child` need a card the caller reaches (`404` otherwise)."""
        storable(sent(body))
        outcome = await app.cards.create(caller, body, on_duplicate, target_customer_id)
        view = await queries.get(outcome.customer_id, caller)
        if view is None:  # kept on a card out of reach (a duplicate lead), or made out of reach (folders)
            known = {**await queries.known(outcome.customer_id, caller.workspace), "in_scope": False}
            lead_id = None if outcome.duplicate_lead_id is None else str(outcome.duplicate_lead_id)
            return _json({"outcome": outcome.kind, "customer": known, "contact": None, "duplicate_lead_id": lead_id}, 201)
        card = detail_out(view)
        contact = next((c for c in card.contacts if c.id == outcome.contact_id), None)
        answer = CreateOutcome(outcome=outcome.kind, customer=card, contact=contact, duplicate_lead_id=outcome.duplicate_lead_id)
        data = answer.model_dump(mode="json")
        data["customer"] = _card(caller, card)
        if contact is not None:
            data["contact"] = None if hidden(caller, "contacts") else _contact(caller, contact.model_dump(mode="json"))
        return _json(data, 201)

    @router.get("/customers", response_model=CustomerPage, responses=problem_responses(400, 403, 404))
    async def list_customers(
        request: Request,
        params: Annotated[FilterParams, Query()],
        caller: SearchDep,
        saved_filter: Annotated[UUID | None, Query(description="Start from a saved filter; parameters sent override it.")] = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Any:
        """Also `field.<key>=<value>` per custom field (a multi select: the card has the value).
        Only the cards the caller reaches (scope and folders, in SQL), without hidden fields;
        filtering on a hidden field is a `403` naming it."""
        where, params, _, nothing = await list_filter(request, params, caller, saved_filter, app.saved_filters, app.runtime.access)
        if nothing:
            return CustomerPage(items=[], next_cursor=None)  # nothing searchable typed: nothing matches
        rows = await queries.page(caller, where, decode_cursor(cursor), limit + 1)
        page = rows[:limit]
        if (matches := visible_match(caller, where.terms)) is not None:
            page = [r for r in page if matches(r)]  # found only through a hidden field: left out (the cursor goes on)
        return _json({"items": [_row(caller, row_out(r)) for r in page], "next_cursor": next_cursor(rows, limit)})

    @router.get("/saved-filters", response_model=SavedFilterList, tags=["lists"])
    async def saved_filters(caller: FiltersDep) -> SavedFilterList:
        """The caller's own saved filters in the workspace."""
        rows = await app.saved_filters.of(caller.workspace, caller.actor)
        return SavedFilterList(items=[SavedFilterOut.model_validate(r, from_attributes=True) for r in rows])

    @router.post("/saved-filters", response_model=SavedFilterOut, status_code=201, tags=["lists"], responses=problem_responses(403, 409))
    async def save_filter(body: NewSavedFilter, caller: FiltersDep) -> SavedFilterOut:
        storable(sent(body))
        return SavedFilterOut.model_validate(await app.saved_filters.add(caller.workspace, caller.actor, body), from_attributes=True)

    @router.delete("/saved-filters/{filter_id}", status_code=204, tags=["lists"], responses=problem_responses(403, 404))
    async def delete_filter(filter_id: UUID, caller: FiltersDep) -> None:
        await app.saved_filters.delete(filter_id, caller.workspace, caller.actor)

    @router.get("/customers/by-number/{number}", response_model=CustomerDetail, responses=problem_responses(403, 404))
    async def by_number(number: CustomerNumber, caller: OpenDep) -> Any:
        return await opened(caller, detail_out(found(await queries.by_number(caller, number), "Customer not found")))

    @router.get("/customers/{customer_id}", response_model=CustomerDetail, responses=problem_responses(403, 404))
    async def get_customer(customer_id: UUID, caller: OpenDep) -> Any:
        """Also for services (timeline-svc), in the workspace they name. Fields the caller's role
        hides are absent."""
        return await opened(caller, await detail(customer_id, caller))

    @router.patch("/customers/{customer_id}", response_model=CustomerDetail, responses=problem_responses(403, 404, 409))
    async def update_customer(customer_id: UUID, body: CustomerChanges, caller: EditDep) -> Any:
        """A field the role may not change (read-only or hidden) is a `403` naming it (`fields`)."""
        storable(sent(body))
        await app.cards.update(customer_id, caller, body)
        return await card_answer(customer_id, caller)

    @router.put("/customers/{customer_id}/team", response_model=CustomerDetail, responses=problem_responses(403, 404, 409))
    async def set_team(customer_id: UUID, body: TeamChange, caller: EditDep) -> Any:
        """The card's team members (seed 002 "עובדים"): reps for whom the card is their own."""
        await app.cards.set_team(customer_id, caller, body)
        return await card_answer(customer_id, caller)

    @router.post("/customers/{customer_id}/status", response_model=CustomerDetail, responses=problem_responses(403, 404, 409))
    async def change_status(customer_id: UUID, body: StatusChange, caller: StatusDep) -> Any:
        """A refused move is a `409` naming its `rule`; a status that does not exist is a `422`."""
        storable(sent(body))
        await app.cards.change_status(customer_id, caller, body.status, body.reason)
        return await card_answer(customer_id, caller)

    @router.get("/customers/{customer_id}/transitions", response_model=TransitionList, responses=problem_responses(403, 404))
    async def transitions(customer_id: UUID, caller: OpenDep) -> TransitionList:
        """The statuses the caller may move the card to now, by the rules of `POST .../status`
        (what a status picker offers; any other target is a `409` naming its rule). Empty when
        the caller's role may not change statuses, and for a merged card."""
        moves = found(await queries.transitions(customer_id, caller), "Customer not found")
        may = caller.role is not None and refusal(caller, Action.CHANGE_STATUS, Section.CUSTOMERS) is None
        items = [TransitionOut(status=s, label_he=LABELS_HE[s]) for s in moves.allowed] if may else []
        return TransitionList(current=moves.current, items=items)

    @router.post("/customers/{customer_id}/convert", response_model=CustomerDetail, responses=problem_responses(403, 404, 409))
    async def convert(customer_id: UUID, caller: ConvertDep, body: ConvertRequest | None = None) -> Any:
        await app.cards.convert(customer_id, caller, (body or ConvertRequest()).card_type)
        return await card_answer(customer_id, caller)

    @router.post(
        "/customers/{customer_id}/copy", response_model=CustomerDetail, status_code=201, responses=problem_responses(403, 404, 409)
    )
    async def copy(customer_id: UUID, body: CopyRequest, caller: CopyDep) -> Any:
        """Into another workspace where the caller's role may create cards (`403` otherwise); the
        answer is the copy as the caller sees it there."""
        storable(sent(body))
        memberships = app.runtime.memberships
        member = memberships.member(caller.actor, body.workspace)
        if member is None:
            raise forbidden("You are not a member of the target workspace.")
        there = dataclasses.replace(
            caller,
            workspace=body.workspace,
            role=member.role,
            permissions=memberships.permissions(body.workspace, member.role),
            rep_id=member.rep_id,
        )
        if (refused := refusal(there, Action.CREATE, Section.CUSTOMERS)) is not None:
            raise await app.runtime.access.refuse(caller, *refused)
        copy_id = await app.cards.copy(customer_id, caller, body.workspace)
        view = await queries.get(copy_id, there)
        shown = _card(there, detail_out(view)) if view is not None else {**await queries.known(copy_id, body.workspace), "in_scope": False}
        return _json(shown, 201)

    @router.get("/customers/{customer_id}/contacts", response_model=ContactList, responses=problem_responses(403, 404, 409))
    async def contacts(customer_id: UUID, caller: OpenDep) -> Any:
        """The contacts' fields the role hides (`contacts.<field>`) are absent; none when it hides `contacts`."""
        items = await app.people.contacts(customer_id, caller)  # a card out of reach: 404
        if hidden(caller, "contacts"):
            items = []
        return _json({"items": [_contact(caller, contact_out(c).model_dump(mode="json")) for c in items], "next_cursor": None})

    @router.post(
        "/customers/{customer_id}/contacts", response_model=ContactOut, status_code=201, responses=problem_responses(403, 404, 409)
    )
    async def add_contact(customer_id: UUID, body: NewContact, caller: EditDep) -> Any:
        """A contact field the role may not change (`contacts.<field>`) is a `403` naming it."""
        storable(sent(body))
        contact = contact_out(await app.people.add_contact(customer_id, caller, body))
        return _json(_contact(caller, contact.model_dump(mode="json")), 201)

    @router.post("/customers/{customer_id}/relations", response_model=CustomerDetail, responses=problem_responses(403, 404, 409))
    async def relate(customer_id: UUID, body: NewRelation, caller: EditDep) -> Any:
        """Both cards must be ones the caller reaches (`404` otherwise)."""
        await app.people.relate(customer_id, caller, body)
        return await card_answer(customer_id, caller)

    @router.post("/customers/{customer_id}/merge", response_model=MergeDone, responses=problem_responses(403, 404, 409))
    async def merge(customer_id: UUID, body: MergeRequest, caller: MergeDep) -> Any:
        """Every card must be one the caller reaches (`404` naming the `missing` ones otherwise)."""
        storable(sent(body))
        merge_id = await app.merges.merge(customer_id, caller, body)
        return _json({"merge_id": str(merge_id), "customer": _card(caller, await detail(customer_id, caller))})

    @router.get("/customers/{customer_id}/merges", response_model=MergeList, responses=problem_responses(403, 404))
    async def merges_of(customer_id: UUID, caller: OpenDep) -> MergeList:
        rows = await app.merges.merges_of(customer_id, caller)
        return MergeList(items=[MergeOut.model_validate(row, from_attributes=True) for row in rows])

    @router.post("/merges/{merge_id}/undo", response_model=UndoDone, responses=problem_responses(403, 404, 409))
    async def undo(merge_id: UUID, caller: MergeDep) -> UndoDone:
        """Undoing a merge is `actions.merge` too; the merge's surviving card must be in reach."""
        survivor, restored = await app.merges.undo(merge_id, caller)
        return UndoDone(merge_id=merge_id, survivor_id=survivor, restored_ids=restored)

    @router.get("/duplicate-leads", response_model=DuplicateLeadPage, responses=problem_responses(400, 403, 404))
    async def duplicate_leads(
        caller: SearchDep,
        customer_id: Annotated[UUID | None, Query(description="One card's (`404` for a card out of reach).")] = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Any:
        """The duplicate leads of the cards the caller reaches; each `lead` without the fields the role hides."""
        rows = await queries.duplicate_leads(caller, customer_id, decode_cursor(cursor), limit + 1)
        items = [
            {
                **DuplicateLeadOut(
                    id=r.submission_id, customer_id=r.customer_id, channel_key=r.channel_key, lead=r.lead, created_at=r.created_at
                ).model_dump(mode="json"),
                "lead": visible_to(caller, r.lead),
            }
            for r in rows[:limit]
        ]
        return _json({"items": items, "next_cursor": next_cursor(rows, limit, ident="submission_id")})

    @router.get("/field-definitions", response_model=FieldDefinitionList, tags=["settings"])
    async def field_definitions(caller: CallerDep) -> FieldDefinitionList:
        """Also for services (intake-svc), in the workspace they name."""
        return FieldDefinitionList(items=await app.definitions.list(caller.workspace))

    @router.post("/field-definitions", response_model=FieldDefinition, status_code=201, tags=["settings"], responses=problem_responses(409))
    async def add_field_definition(body: FieldDefinition, caller: ManageCustomFieldsDep) -> FieldDefinition:
        """Needs `actions.manage_custom_fields`; audited."""
        storable(sent(body))
        return await app.definitions.add(caller, body)

    @router.put("/field-definitions/{key}", response_model=FieldDefinition, tags=["settings"], responses=problem_responses(404))
    async def replace_field_definition(key: FieldKey, body: FieldDefinition, caller: ManageCustomFieldsDep) -> FieldDefinition:
        """Needs `actions.manage_custom_fields`; audited. The key is the path's (a key in the body is ignored)."""
        storable(sent(body))
        return await app.definitions.replace(caller, body.model_copy(update={"key": key}))

    @router.delete("/field-definitions/{key}", status_code=204, tags=["settings"], responses=problem_responses(404))
    async def delete_field_definition(key: FieldKey, caller: ManageCustomFieldsDep) -> None:
        """Needs `actions.manage_custom_fields`; audited. The values cards hold under the key stay
        as they are, no longer defined: no write accepts them until the key is defined again."""
        await app.definitions.delete(caller, key)

    @router.get("/statuses", response_model=StatusList, tags=["settings"])
    async def statuses(_: CallerDep) -> StatusList:
        return StatusList(items=[StatusOut(key=s, label_he=LABELS_HE[s], manual=s in MANUAL) for s in STATUSES])

    return router
