"""Deleting, restoring and erasing cards (service_layer.lifecycle)."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from crm_contracts.permissions import Action, Section
from crm_contracts.text import storable_problems
from crm_runtime.access import AdminDep, Caller, permitted
from crm_runtime.pagination import decode_cursor, next_cursor
from crm_runtime.problems import invalid_fields, problem_responses
from crm_runtime.scope import visible_to
from customer_svc.bootstrap import Container
from customer_svc.domain.card import FIRST_NUMBER, LAST_NUMBER
from customer_svc.service_layer.lifecycle import Lifecycle
from customer_svc.service_layer.publishing import Publisher

DeleteDep = Annotated[Caller, Depends(permitted(Action.DELETE, Section.CUSTOMERS))]


class DeletedCard(BaseModel):
    """A deleted card as the administrators' list shows it (fields the role hides are absent)."""

    id: UUID
    number: int | None = None
    card_type: str | None = None
    status: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    owner_id: UUID | None = None
    deleted_at: datetime | None = None
    deleted_by: str | None = None


class DeletedPage(BaseModel):
    items: list[DeletedCard]
    next_cursor: str | None


class RestoredOut(BaseModel):
    customer_id: UUID
    number: int


class EraseRequest(BaseModel):
    reason: str = Field(
        min_length=1, max_length=500, description="Why (kept in the audit log): a request reference, not the person's details."
    )
    confirm_number: int = Field(ge=FIRST_NUMBER, le=LAST_NUMBER, description="The card's number, against erasing the wrong card.")


class ErasureOut(BaseModel):
    customer_id: UUID
    erased_ids: list[UUID] = Field(description="The card and every card merged into it.")
    contacts: int = Field(description="Contacts deleted.")
    duplicate_leads: int = Field(description="Duplicate leads deleted.")
    merges: int = Field(description="Merge records deleted (they held copies of the person).")
    audit_lines: int = Field(description="Earlier audit lines whose recorded values were blanked.")


def _deleted_out(caller: Caller, row: Any) -> DeletedCard:
    data = {name: getattr(row, name) for name in DeletedCard.model_fields}
    return DeletedCard.model_validate(visible_to(caller, data))


def build_lifecycle_router(app: Container) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["customers"])
    lifecycle = Lifecycle(app.runtime.sessions, Publisher(app.runtime.outbox), app.runtime.audit)

    @router.get("/customers/deleted", response_model=DeletedPage, response_model_exclude_unset=True, responses=problem_responses(400, 403))
    async def deleted_customers(
        caller: AdminDep,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> DeletedPage:
        """Administrators: the deleted cards of their scope, most recently deleted first."""
        rows = await lifecycle.deleted(caller, decode_cursor(cursor), limit + 1)
        return DeletedPage(items=[_deleted_out(caller, r) for r in rows[:limit]], next_cursor=next_cursor(rows, limit, at="deleted_at"))

    @router.delete("/customers/{customer_id}", status_code=204, responses=problem_responses(403, 404, 409, 410))
    async def delete_customer(customer_id: UUID, caller: DeleteDep) -> None:
        """Soft delete (`actions.delete`): the card is absent everywhere until an administrator
        restores it. A card outside the caller's scope, or already deleted, is a 404; an erased
        one is a 410 to an administrator."""
        await lifecycle.delete(caller, customer_id)

    @router.post("/customers/{customer_id}/restore", response_model=RestoredOut, responses=problem_responses(403, 404, 409, 410))
    async def restore_customer(customer_id: UUID, caller: AdminDep) -> RestoredOut:
        """Administrators: a deleted card back as it was (`409` for a card not deleted, `410` for an erased one)."""
        number = await lifecycle.restore(caller, customer_id)
        return RestoredOut(customer_id=customer_id, number=number)

    @router.post("/customers/{customer_id}/erase", response_model=ErasureOut, responses=problem_responses(403, 404, 410))
    async def erase_customer(customer_id: UUID, body: EraseRequest, caller: AdminDep) -> ErasureOut:
        """Administrators, for a privacy request: the person's data removed for good from this
        service (the card keeps its id, number, status and dates; contacts, duplicate leads and
        merge records go), and from every other service through `CustomerErased`. Earlier audit
        lines about the card lose their recorded values; the erasure itself is audited.
        `confirm_number` must be the card's number (`422` otherwise)."""
        problems = storable_problems(body.reason, ("reason",))
        if problems:
            raise invalid_fields(problems)
        done = await lifecycle.erase(caller, customer_id, body.reason, body.confirm_number)
        return ErasureOut(
            customer_id=done.customer_id,
            erased_ids=done.erased_ids,
            contacts=done.contacts,
            duplicate_leads=done.duplicate_leads,
            merges=done.merges,
            audit_lines=done.audit_lines,
        )

    return router
