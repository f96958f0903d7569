"""Acting on one duplicate lead (service_layer.duplicate_leads): promote it to a card
(`actions.create`), merge it into the card it duplicates (`actions.merge`), dismiss it
(`actions.edit`). Each needs the lead to belong to a card the caller reaches (`404` otherwise)."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from crm_contracts.permissions import Action, Section
from crm_runtime.access import Caller, forbidden, permitted
from crm_runtime.problems import found, problem_responses
from crm_runtime.scope import visible_to
from customer_svc.bootstrap import Container
from customer_svc.entrypoints.schemas import CustomerDetail, detail_out

router = APIRouter(prefix="/v1", tags=["customers"])


def container(request: Request) -> Container:
    app: Container = request.app.state.container
    return app


ContainerDep = Annotated[Container, Depends(container)]


def _member(action: Action) -> Any:
    guard = permitted(action, Section.CUSTOMERS)

    async def member(caller: Annotated[Caller, Depends(guard)]) -> Caller:
        if caller.role is None:
            raise forbidden("Only a signed-in member of the workspace may do this.")
        return caller

    return member


PromoteDep = Annotated[Caller, Depends(_member(Action.CREATE))]
MergeDep = Annotated[Caller, Depends(_member(Action.MERGE))]
DismissDep = Annotated[Caller, Depends(_member(Action.EDIT))]


class LeadActed(BaseModel):
    customer: CustomerDetail = Field(description="The new card (promote) or the found card (merge), as the caller may see it.")
    filled_fields: list[str] = Field(default_factory=list, description="Merge: the card's fields the lead filled.")


async def _answer(app: Container, caller: Caller, customer_id: UUID, filled: list[str], status_code: int) -> JSONResponse:
    view = await app.queries.get(customer_id, caller)
    if view is None:  # made out of the caller's reach (folders): what anyone may know of it
        card: dict[str, Any] = {**await app.queries.known(customer_id, caller.workspace), "in_scope": False}
    else:
        card = visible_to(caller, detail_out(found(view, "Customer not found")).model_dump(mode="json"))
    return JSONResponse({"customer": card, "filled_fields": filled}, status_code=status_code)


@router.post("/duplicate-leads/{lead_id}/promote", response_model=LeadActed, status_code=201, responses=problem_responses(403, 404, 409))
async def promote(lead_id: UUID, caller: PromoteDep, app: ContainerDep) -> Any:
    """A card of its own from the lead (as "save anyway"); the lead leaves the table."""
    done = await app.duplicate_leads.promote(lead_id, caller)
    return await _answer(app, caller, done.customer_id, [], 201)


@router.post("/duplicate-leads/{lead_id}/merge", response_model=LeadActed, responses=problem_responses(403, 404, 409))
async def merge(lead_id: UUID, caller: MergeDep, app: ContainerDep) -> Any:
    """The lead fills what the found card lacks (never overwrites); the lead leaves the table."""
    done = await app.duplicate_leads.merge(lead_id, caller)
    return await _answer(app, caller, done.customer_id, done.filled_fields, 200)


@router.delete("/duplicate-leads/{lead_id}", status_code=204, responses=problem_responses(403, 404))
async def dismiss(lead_id: UUID, caller: DismissDep, app: ContainerDep) -> None:
    await app.duplicate_leads.dismiss(lead_id, caller)
