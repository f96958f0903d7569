"""customer-svc HTTP (DESIGN 5.1): entrypoints parse the request and call the service layer."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from crm_contracts.fields import KEY_PATTERN, FieldDefinition
from crm_contracts.text import storable_problems
from crm_runtime.access import CallerDep, UserDep, forbidden
from crm_runtime.pagination import decode_cursor, next_cursor
from crm_runtime.problems import PROBLEM_JSON, PROBLEM_SCHEMA, found, invalid_fields, problem_responses
from customer_svc.bootstrap import Container
from customer_svc.domain.card import FIRST_NUMBER, LAST_NUMBER
from customer_svc.domain.filters import CardFilter
from customer_svc.domain.search import search_terms
from customer_svc.domain.status import LABELS_HE, STATUSES
from customer_svc.entrypoints.guards import ManageCustomFieldsDep
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
    SavedFilterParams,
    StatusChange,
)

# Who acts and where comes from the token (crm_runtime.access): `CallerDep` for reads (members of
# the workspace, and the services in `service_clients` for the reads they need), `UserDep` for
# what people change, `AdminDep` for the workspace's settings. Every operation by id looks the
# record up in the caller's workspace: a record of another workspace is a 404, like no record.
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

    async def detail(customer_id: UUID, workspace: str) -> CustomerDetail:
        return detail_out(found(await queries.get(customer_id, workspace), "Customer not found"))

    @router.post(
        "/customers",
        response_model=CreateOutcome,
        status_code=201,
        responses={**problem_responses(404, 409, 503), 409: DUPLICATE_FOUND},
    )
    async def create_customer(
        body: NewCustomer,
        caller: UserDep,
        on_duplicate: OnDuplicate = "ask",
        target_customer_id: UUID | None = None,
    ) -> CreateOutcome:
        storable(sent(body))
        outcome = await app.cards.create(caller.workspace, body, on_duplicate, target_customer_id, caller.actor)
        card = await detail(outcome.customer_id, caller.workspace)
        contact = next((c for c in card.contacts if c.id == outcome.contact_id), None)
        return CreateOutcome(outcome=outcome.kind, customer=card, contact=contact, duplicate_lead_id=outcome.duplicate_lead_id)

    @router.get("/customers", response_model=CustomerPage, responses=problem_responses(400, 404))
    async def list_customers(
        request: Request,
        params: Annotated[FilterParams, Query()],
        caller: CallerDep,
        saved_filter: Annotated[UUID | None, Query(description="Start from a saved filter; parameters sent override it.")] = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> CustomerPage:
        """Also `field.<key>=<value>` per custom field (a multi select: the card has the value)."""
        fields = {k.removeprefix("field."): v for k, v in request.query_params.items() if k.startswith("field.")}
        storable(sent(params), ("field", fields))
        if saved_filter is not None:
            saved = SavedFilterParams.model_validate(await app.saved_filters.params(saved_filter, caller.workspace, caller.actor))
            params = saved.model_copy(update={name: getattr(params, name) for name in params.model_fields_set})
            fields = {**saved.fields, **fields}
        terms = search_terms(params.q or "")
        if params.q and params.q.strip() and not terms:
            return CustomerPage(items=[], next_cursor=None)  # nothing searchable typed: nothing matches
        where = CardFilter(
            terms=terms,
            statuses=params.status,
            card_types=params.card_type,
            tags=params.tag,
            folder=params.folder,
            owner_id=params.owner_id,
            unassigned=params.unassigned,
            branch=params.branch,
            source=params.source,
            created_from=params.created_from,
            created_to=params.created_to,
            active=params.active,
            fields=fields,
        )
        rows = await queries.page(caller.workspace, where, decode_cursor(cursor), limit + 1)
        return CustomerPage(items=[row_out(r) for r in rows[:limit]], next_cursor=next_cursor(rows, limit))

    @router.get("/saved-filters", response_model=SavedFilterList, tags=["lists"])
    async def saved_filters(caller: UserDep) -> SavedFilterList:
        """The caller's own saved filters in the workspace."""
        rows = await app.saved_filters.of(caller.workspace, caller.actor)
        return SavedFilterList(items=[SavedFilterOut.model_validate(r, from_attributes=True) for r in rows])

    @router.post("/saved-filters", response_model=SavedFilterOut, status_code=201, tags=["lists"], responses=problem_responses(409))
    async def save_filter(body: NewSavedFilter, caller: UserDep) -> SavedFilterOut:
        storable(sent(body))
        return SavedFilterOut.model_validate(await app.saved_filters.add(caller.workspace, caller.actor, body), from_attributes=True)

    @router.delete("/saved-filters/{filter_id}", status_code=204, tags=["lists"], responses=problem_responses(404))
    async def delete_filter(filter_id: UUID, caller: UserDep) -> None:
        await app.saved_filters.delete(filter_id, caller.workspace, caller.actor)

    @router.get("/customers/by-number/{number}", response_model=CustomerDetail, responses=problem_responses(404))
    async def by_number(number: CustomerNumber, caller: CallerDep) -> CustomerDetail:
        return detail_out(found(await queries.by_number(caller.workspace, number), "Customer not found"))

    @router.get("/customers/{customer_id}", response_model=CustomerDetail, responses=problem_responses(404))
    async def get_customer(customer_id: UUID, caller: CallerDep) -> CustomerDetail:
        """Also for services (timeline-svc), in the workspace they name."""
        return await detail(customer_id, caller.workspace)

    @router.patch("/customers/{customer_id}", response_model=CustomerDetail, responses=problem_responses(404, 409))
    async def update_customer(customer_id: UUID, body: CustomerChanges, caller: UserDep) -> CustomerDetail:
        storable(sent(body))
        await app.cards.update(customer_id, caller.workspace, body, caller.actor)
        return await detail(customer_id, caller.workspace)

    @router.post("/customers/{customer_id}/status", response_model=CustomerDetail, responses=problem_responses(404, 409))
    async def change_status(customer_id: UUID, body: StatusChange, caller: UserDep) -> CustomerDetail:
        """A refused move is a `409` naming its `rule`; a status that does not exist is a `422`."""
        storable(sent(body))
        await app.cards.change_status(customer_id, caller.workspace, body.status, body.reason, caller.actor)
        return await detail(customer_id, caller.workspace)

    @router.post("/customers/{customer_id}/convert", response_model=CustomerDetail, responses=problem_responses(404, 409))
    async def convert(customer_id: UUID, caller: UserDep, body: ConvertRequest | None = None) -> CustomerDetail:
        await app.cards.convert(customer_id, caller.workspace, (body or ConvertRequest()).card_type, caller.actor)
        return await detail(customer_id, caller.workspace)

    @router.post(
        "/customers/{customer_id}/copy", response_model=CustomerDetail, status_code=201, responses=problem_responses(403, 404, 409)
    )
    async def copy(customer_id: UUID, body: CopyRequest, caller: UserDep) -> CustomerDetail:
        """Into another workspace the caller is a member of (`403` otherwise); the answer is the copy."""
        storable(sent(body))
        if app.runtime.memberships.role(caller.actor, body.workspace) is None:
            raise forbidden("You are not a member of the target workspace.")
        return await detail(await app.cards.copy(customer_id, caller.workspace, body.workspace, caller.actor), body.workspace)

    @router.get("/customers/{customer_id}/contacts", response_model=ContactList, responses=problem_responses(404, 409))
    async def contacts(customer_id: UUID, caller: CallerDep) -> ContactList:
        return ContactList(items=[contact_out(c) for c in await app.people.contacts(customer_id, caller.workspace)])

    @router.post("/customers/{customer_id}/contacts", response_model=ContactOut, status_code=201, responses=problem_responses(404, 409))
    async def add_contact(customer_id: UUID, body: NewContact, caller: UserDep) -> ContactOut:
        storable(sent(body))
        return contact_out(await app.people.add_contact(customer_id, caller.workspace, body, caller.actor))

    @router.post("/customers/{customer_id}/relations", response_model=CustomerDetail, responses=problem_responses(404, 409))
    async def relate(customer_id: UUID, body: NewRelation, caller: UserDep) -> CustomerDetail:
        """Both cards must be of the caller's workspace (`404` otherwise)."""
        await app.people.relate(customer_id, caller.workspace, body, caller.actor)
        return await detail(customer_id, caller.workspace)

    @router.post("/customers/{customer_id}/merge", response_model=MergeDone, responses=problem_responses(404, 409))
    async def merge(customer_id: UUID, body: MergeRequest, caller: UserDep) -> MergeDone:
        """Every card must be of the caller's workspace (`404` naming the `missing` ones otherwise)."""
        storable(sent(body))
        merge_id = await app.merges.merge(customer_id, caller.workspace, body, caller.actor)
        return MergeDone(merge_id=merge_id, customer=await detail(customer_id, caller.workspace))

    @router.get("/customers/{customer_id}/merges", response_model=MergeList, responses=problem_responses(404))
    async def merges_of(customer_id: UUID, caller: CallerDep) -> MergeList:
        rows = await app.merges.merges_of(customer_id, caller.workspace)
        return MergeList(items=[MergeOut.model_validate(row, from_attributes=True) for row in rows])

    @router.post("/merges/{merge_id}/undo", response_model=UndoDone, responses=problem_responses(404, 409))
    async def undo(merge_id: UUID, caller: UserDep) -> UndoDone:
        survivor, restored = await app.merges.undo(merge_id, caller.workspace, caller.actor)
        return UndoDone(merge_id=merge_id, survivor_id=survivor, restored_ids=restored)

    @router.get("/duplicate-leads", response_model=DuplicateLeadPage, responses=problem_responses(400, 404))
    async def duplicate_leads(
        caller: CallerDep,
        customer_id: Annotated[UUID | None, Query(description="One card's (`404` for a card not of the workspace).")] = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> DuplicateLeadPage:
        rows = await queries.duplicate_leads(caller.workspace, customer_id, decode_cursor(cursor), limit + 1)
        items = [
            DuplicateLeadOut(id=r.submission_id, customer_id=r.customer_id, channel_key=r.channel_key, lead=r.lead, created_at=r.created_at)
            for r in rows[:limit]
        ]
        return DuplicateLeadPage(items=items, next_cursor=next_cursor(rows, limit, ident="submission_id"))

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
