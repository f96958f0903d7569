"""customer-svc HTTP (DESIGN 5.1): entrypoints parse the request and call the service layer."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request

from crm_contracts.fields import FieldDefinition
from crm_runtime.pagination import decode_cursor, next_cursor
from crm_runtime.problems import found
from customer_svc.bootstrap import Container
from customer_svc.domain.filters import CardFilter
from customer_svc.domain.search import search_terms
from customer_svc.domain.status import LABELS_HE, STATUSES
from customer_svc.entrypoints.schemas import (
    ContactOut,
    CreateOutcome,
    CustomerDetail,
    CustomerPage,
    DuplicateLeadOut,
    DuplicateLeadPage,
    MergeDone,
    MergeOut,
    SavedFilterOut,
    StatusOut,
    UndoDone,
    contact_out,
    detail_out,
    row_out,
)
from customer_svc.service_layer.commands import (
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

Workspace = Annotated[str, Header(alias="X-Workspace", max_length=100)]
User = Annotated[str, Header(alias="X-User", max_length=200, description="Who acts (until sign-in exists).")]
MANUAL = {"not_interested", "frozen", "fictitious", "new", "customer_club"}


def build_router(app: Container) -> APIRouter:  # noqa: C901 - one route table
    router = APIRouter(prefix="/v1", tags=["customers"])
    queries = app.queries

    async def detail(customer_id: UUID) -> CustomerDetail:
        return detail_out(found(await queries.get(customer_id), "Customer not found"))

    @router.post("/customers", response_model=CreateOutcome, status_code=201)
    async def create_customer(
        body: NewCustomer,
        x_workspace: Workspace = "main",
        x_user: User = "user",
        on_duplicate: OnDuplicate = "ask",
        target_customer_id: UUID | None = None,
    ) -> CreateOutcome:
        outcome = await app.cards.create(x_workspace, body, on_duplicate, target_customer_id, x_user)
        card = await detail(outcome.customer_id)
        contact = next((c for c in card.contacts if c.id == outcome.contact_id), None)
        return CreateOutcome(outcome=outcome.kind, customer=card, contact=contact, duplicate_lead_id=outcome.duplicate_lead_id)

    @router.get("/customers", response_model=CustomerPage)
    async def list_customers(
        request: Request,
        params: Annotated[FilterParams, Query()],
        x_workspace: Workspace = "main",
        x_user: User = "user",
        saved_filter: Annotated[UUID | None, Query(description="Start from a saved filter; parameters sent override it.")] = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> CustomerPage:
        """Also `field.<key>=<value>` per custom field (a multi select: the card has the value)."""
        fields = {k.removeprefix("field."): v for k, v in request.query_params.items() if k.startswith("field.")}
        if saved_filter is not None:
            saved = SavedFilterParams.model_validate(await app.saved_filters.params(saved_filter, x_workspace, x_user))
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
        rows = await queries.page(x_workspace, where, decode_cursor(cursor), limit + 1)
        return CustomerPage(items=[row_out(r) for r in rows[:limit]], next_cursor=next_cursor(rows, limit))

    @router.get("/saved-filters", response_model=list[SavedFilterOut], tags=["lists"])
    async def saved_filters(x_workspace: Workspace = "main", x_user: User = "user") -> list[SavedFilterOut]:
        return [SavedFilterOut.model_validate(r, from_attributes=True) for r in await app.saved_filters.of(x_workspace, x_user)]

    @router.post("/saved-filters", response_model=SavedFilterOut, status_code=201, tags=["lists"])
    async def save_filter(body: NewSavedFilter, x_workspace: Workspace = "main", x_user: User = "user") -> SavedFilterOut:
        return SavedFilterOut.model_validate(await app.saved_filters.add(x_workspace, x_user, body), from_attributes=True)

    @router.delete("/saved-filters/{filter_id}", status_code=204, tags=["lists"])
    async def delete_filter(filter_id: UUID, x_workspace: Workspace = "main", x_user: User = "user") -> None:
        await app.saved_filters.delete(filter_id, x_workspace, x_user)

    @router.get("/customers/by-number/{number}", response_model=CustomerDetail)
    async def by_number(number: int, x_workspace: Workspace = "main") -> CustomerDetail:
        return detail_out(found(await queries.by_number(x_workspace, number), "Customer not found"))

    @router.get("/customers/{customer_id}", response_model=CustomerDetail)
    async def get_customer(customer_id: UUID) -> CustomerDetail:
        return await detail(customer_id)

    @router.patch("/customers/{customer_id}", response_model=CustomerDetail)
    async def update_customer(customer_id: UUID, body: CustomerChanges) -> CustomerDetail:
        await app.cards.update(customer_id, body)
        return await detail(customer_id)

    @router.post("/customers/{customer_id}/status", response_model=CustomerDetail)
    async def change_status(customer_id: UUID, body: StatusChange, x_user: User = "user") -> CustomerDetail:
        await app.cards.change_status(customer_id, body.status, body.reason, x_user)
        return await detail(customer_id)

    @router.post("/customers/{customer_id}/convert", response_model=CustomerDetail)
    async def convert(customer_id: UUID, body: ConvertRequest | None = None) -> CustomerDetail:
        await app.cards.convert(customer_id, (body or ConvertRequest()).card_type)
        return await detail(customer_id)

    @router.post("/customers/{customer_id}/copy", response_model=CustomerDetail, status_code=201)
    async def copy(customer_id: UUID, body: CopyRequest, x_user: User = "user") -> CustomerDetail:
        return await detail(await app.cards.copy(customer_id, body.workspace, x_user))

    @router.get("/customers/{customer_id}/contacts", response_model=list[ContactOut])
    async def contacts(customer_id: UUID) -> list[ContactOut]:
        return [contact_out(c) for c in await app.people.contacts(customer_id)]

    @router.post("/customers/{customer_id}/contacts", response_model=ContactOut, status_code=201)
    async def add_contact(customer_id: UUID, body: NewContact) -> ContactOut:
        return contact_out(await app.people.add_contact(customer_id, body))

    @router.post("/customers/{customer_id}/relations", response_model=CustomerDetail)
    async def relate(customer_id: UUID, body: NewRelation) -> CustomerDetail:
        await app.people.relate(customer_id, body)
        return await detail(customer_id)

    @router.post("/customers/{customer_id}/merge", response_model=MergeDone)
    async def merge(customer_id: UUID, body: MergeRequest, x_user: User = "user") -> MergeDone:
        merge_id = await app.merges.merge(customer_id, body, x_user)
        return MergeDone(merge_id=merge_id, customer=await detail(customer_id))

    @router.get("/customers/{customer_id}/merges", response_model=list[MergeOut])
    async def merges_of(customer_id: UUID) -> list[MergeOut]:
        return [MergeOut.model_validate(row, from_attributes=True) for row in await app.merges.merges_of(customer_id)]

    @router.post("/merges/{merge_id}/undo", response_model=UndoDone)
    async def undo(merge_id: UUID, x_user: User = "user") -> UndoDone:
        survivor, restored = await app.merges.undo(merge_id, x_user)
        return UndoDone(merge_id=merge_id, survivor_id=survivor, restored_ids=restored)

    @router.get("/duplicate-leads", response_model=DuplicateLeadPage)
    async def duplicate_leads(
        x_workspace: Workspace = "main",
        customer_id: UUID | None = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> DuplicateLeadPage:
        rows = await queries.duplicate_leads(x_workspace, customer_id, decode_cursor(cursor), limit + 1)
        items = [
            DuplicateLeadOut(id=r.submission_id, customer_id=r.customer_id, channel_key=r.channel_key, lead=r.lead, created_at=r.created_at)
            for r in rows[:limit]
        ]
        return DuplicateLeadPage(items=items, next_cursor=next_cursor(rows, limit, ident="submission_id"))

    @router.get("/field-definitions", response_model=list[FieldDefinition], tags=["settings"])
    async def field_definitions(x_workspace: Workspace = "main") -> list[FieldDefinition]:
        return await app.definitions.list(x_workspace)

    @router.post("/field-definitions", response_model=FieldDefinition, status_code=201, tags=["settings"])
    async def add_field_definition(body: FieldDefinition, x_workspace: Workspace = "main") -> FieldDefinition:
        return await app.definitions.add(x_workspace, body)

    @router.put("/field-definitions/{key}", response_model=FieldDefinition, tags=["settings"])
    async def replace_field_definition(key: str, body: FieldDefinition, x_workspace: Workspace = "main") -> FieldDefinition:
        return await app.definitions.replace(x_workspace, body.model_copy(update={"key": key}))

    @router.get("/statuses", response_model=list[StatusOut], tags=["settings"])
    async def statuses() -> list[StatusOut]:
        return [StatusOut(key=s, label_he=LABELS_HE[s], manual=s in MANUAL) for s in STATUSES]

    return router
