"""`GET /v1/customers/counts`: the manager's view (issue 18) — how many cards fall in each
status, owner, source channel or affiliate, for the list's filters, counted in SQL within the
caller's scope (the same condition the list uses: a sales rep counts only the cards she
reaches). Needs what the list needs (`sections.customers`, `actions.search`); counting by a
field the caller's role hides is a `403` naming it (the counts would tell its values), as is
filtering on one."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from crm_contracts.permissions import Action, Section
from crm_runtime.access import Caller, permitted
from crm_runtime.problems import problem_responses
from customer_svc.bootstrap import Container
from customer_svc.domain.counts import COUNTED_FIELD, CountBy
from customer_svc.entrypoints.listing import hidden, list_filter
from customer_svc.service_layer.commands import FilterParams

CountDep = Annotated[Caller, Depends(permitted(Action.SEARCH, Section.CUSTOMERS))]


def container(request: Request) -> Container:
    """The app's wired container (`entrypoints.app.build_app` keeps it in the app's state)."""
    found: Container = request.app.state.container
    return found


ContainerDep = Annotated[Container, Depends(container)]

router = APIRouter(prefix="/v1", tags=["customers"])


class CountOut(BaseModel):
    key: str | None = Field(
        description="status: the status key; owner: the rep's id; channel: the channel's id, or `ui` (made by hand) or `copy`;"
        " affiliate: the affiliate's account number, else its name. Null: no owner, no channel known, no affiliate."
    )
    count: int
    kind: str | None = Field(default=None, description="by=channel: the channel's kind (`web`, `import`, `api`, `portal`, `ui`, `copy`).")
    label: str | None = Field(default=None, description="by=affiliate: the affiliate's name.")


class CountsOut(BaseModel):
    by: CountBy
    items: list[CountOut] = Field(description="Largest group first.")
    total: int = Field(description="The cards counted (the sum of the items).")


@router.get("/customers/counts", response_model=CountsOut, responses=problem_responses(400, 403, 404, 422))
async def count_customers(
    request: Request,
    app: ContainerDep,
    params: Annotated[FilterParams, Query()],
    caller: CountDep,
    by: Annotated[CountBy, Query(description="The dimension to count by.")],
    saved_filter: Annotated[UUID | None, Query(description="Start from a saved filter; parameters sent override it.")] = None,
) -> CountsOut:
    """Also `field.<key>=<value>` per custom field, as the list."""
    counted = COUNTED_FIELD[by]
    if hidden(caller, counted):
        problem = await app.runtime.access.refuse(caller, f"fields.{counted}", f"Your role may not count by {counted}.")
        problem.extra["fields"] = [counted]
        raise problem
    where, _, _, nothing = await list_filter(request, params, caller, saved_filter, app.saved_filters, app.runtime.access)
    if nothing:
        return CountsOut(by=by, items=[], total=0)
    counts = await app.queries.counts(caller, where, by)
    items = [CountOut(key=c.key, count=c.count, kind=c.kind, label=c.label) for c in counts]
    return CountsOut(by=by, items=items, total=sum(c.count for c in counts))
