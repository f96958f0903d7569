from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel

from crm_runtime.pagination import decode_cursor, encode_cursor
from crm_runtime.problems import found
from customer_svc.service_layer.handlers import CustomerQueries

Workspace = Annotated[str, Header(alias="X-Workspace", max_length=100)]


class PhoneOut(BaseModel):
    value: str
    e164: str | None = None
    primary: bool


class EmailOut(BaseModel):
    value: str
    primary: bool


class CustomerOut(BaseModel):
    id: UUID
    workspace: str
    number: int
    card_type: str
    active: bool
    status: str
    website_last_token: str | None
    first_name: str | None
    last_name: str | None
    company_name: str | None
    id_type: str | None
    national_id: str | None
    branch: str | None
    phones: list[PhoneOut]
    emails: list[EmailOut]
    addresses: list[dict[str, Any]]
    fields: dict[str, Any]
    tags: list[str]
    folder: str | None
    owner_id: UUID | None
    broker: dict[str, Any] | None
    parent_ids: list[UUID] = []
    child_ids: list[UUID] = []
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_contact_at: datetime | None
    next_contact_at: datetime | None


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


def _out(row: Any) -> CustomerOut:
    return CustomerOut.model_validate(row, from_attributes=True)


def build_router(queries: CustomerQueries) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["customers"])

    @router.get("/customers", response_model=CustomerPage)
    async def list_customers(
        x_workspace: Workspace = "main",
        q: Annotated[str | None, Query(max_length=200)] = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> CustomerPage:
        rows = await queries.page(x_workspace, decode_cursor(cursor), limit + 1, q)
        next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
        return CustomerPage(items=[_out(r) for r in rows[:limit]], next_cursor=next_cursor)

    @router.get("/customers/by-number/{number}", response_model=CustomerOut)
    async def by_number(number: int, x_workspace: Workspace = "main") -> CustomerOut:
        row = found(await queries.by_number(x_workspace, number), "Customer not found")
        return _out(row)

    @router.get("/customers/{customer_id}", response_model=CustomerOut)
    async def get_customer(customer_id: UUID) -> CustomerOut:
        row = found(await queries.get(customer_id), "Customer not found")
        return _out(row)

    return router
