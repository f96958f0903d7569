"""allocation-svc HTTP (DESIGN 4.6): reps, rules, owners, the unassigned queue, the wizard and transfers.

Every operation needs a bearer token (`crm_runtime.access`) and the permissions of the caller's
role (DESIGN 4.9; a refusal is a `403` naming the permission, audited):

- reps: read by every member (a rep's name and team are shown wherever a card's owner is, in
  every section, and carry no customer's data); created, changed and deleted with
  `actions.manage_reps` + `sections.allocation`;
- rules and the unassigned queue: read with `sections.allocation`; rules changed and deleted
  with `actions.manage_rules` + `sections.allocation`;
- the wizard (preview, apply, runs): `actions.run_allocation_wizard` + `sections.allocation`;
- transfers: made with `actions.transfer`, listed with `sections.allocation`;
- a card's assignment: `actions.open_card`.

Cards follow the role's record scope (own / team / all, and folders) from this service's
projection of each card's owner, team members and folder: a card outside it is `404` like a
missing one, and the queue, runs and transfers lists show only what reaches the caller's cards.
The acting person recorded is the token's subject. A record of another workspace is not there
for the caller: `404`."""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from allocation_svc.bootstrap import Container
from allocation_svc.entrypoints.schemas import (
    ApplyIn,
    AssignmentOut,
    PreviewIn,
    QueuePage,
    RepIn,
    RepOut,
    RepPage,
    RepPatch,
    RuleIn,
    RuleOut,
    RulePage,
    RulePatch,
    RunOut,
    RunPage,
    TransferIn,
    TransferOut,
    TransferPage,
)
from crm_contracts.permissions import Action, Section
from crm_runtime.access import Caller, CallerDep, permitted
from crm_runtime.pagination import decode_cursor
from crm_runtime.problems import problem_responses

AllocationDep = Annotated[Caller, Depends(permitted(None, Section.ALLOCATION))]
RepsDep = Annotated[Caller, Depends(permitted(Action.MANAGE_REPS, Section.ALLOCATION))]
RulesDep = Annotated[Caller, Depends(permitted(Action.MANAGE_RULES, Section.ALLOCATION))]
WizardDep = Annotated[Caller, Depends(permitted(Action.RUN_ALLOCATION_WIZARD, Section.ALLOCATION))]
TransferDep = Annotated[Caller, Depends(permitted(Action.TRANSFER))]
OpenCardDep = Annotated[Caller, Depends(permitted(Action.OPEN_CARD))]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=500)]


def _stored(body: Any) -> dict[str, Any]:
    """Fields sent, in JSON form (UUIDs and datetimes as text) for JSONB columns."""
    values: dict[str, Any] = body.model_dump(mode="json", exclude_unset=True)
    return values


def _rep_values(body: RepIn | RepPatch) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    if "away" in values:
        values["away"] = _stored(body)["away"]
    return values


def _rule_values(body: RuleIn | RulePatch) -> dict[str, Any]:
    values = _stored(body) if isinstance(body, RulePatch) else body.model_dump(mode="json")
    if values.get("fixed_rep_id") is not None:
        values["fixed_rep_id"] = UUID(values["fixed_rep_id"])
    return values


def build_router(c: Container) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["allocation"])

    @router.get("/reps", response_model=RepPage)
    async def list_reps(caller: CallerDep) -> dict[str, Any]:
        return {"items": await c.admin.reps(caller.workspace), "next_cursor": None}

    @router.post("/reps", response_model=RepOut, status_code=status.HTTP_201_CREATED, responses=problem_responses(422))
    async def create_rep(body: RepIn, caller: RepsDep) -> dict[str, Any]:
        values = {**_rep_values(body), "away": _stored(body).get("away", []), "updated_by": caller.actor}
        return await c.admin.add_rep(caller, values)

    @router.get("/reps/{rep_id}", response_model=RepOut, responses=problem_responses(404))
    async def get_rep(rep_id: UUID, caller: CallerDep) -> dict[str, Any]:
        return await c.admin.rep(caller.workspace, rep_id)

    @router.patch("/reps/{rep_id}", response_model=RepOut, responses=problem_responses(404, 422))
    async def update_rep(rep_id: UUID, body: RepPatch, caller: RepsDep) -> dict[str, Any]:
        """Change only the fields sent; `away` replaces the rep's away periods. Waiting leads are offered again."""
        return await c.admin.update_rep(caller, rep_id, _rep_values(body) | {"updated_by": caller.actor})

    @router.delete("/reps/{rep_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404))
    async def delete_rep(rep_id: UUID, caller: RepsDep) -> Response:
        """Delete softly: the rep leaves the lists, the rules and the wizard and takes no more
        leads; the cards it owns keep it as their owner, and past assignments keep its name,
        until they are transferred (`from_rep_id` may name a deleted rep)."""
        await c.admin.delete_rep(caller, rep_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/rules", response_model=RulePage)
    async def list_rules(caller: AllocationDep) -> dict[str, Any]:
        """Every rule of the workspace in the order they are tried (lowest position first)."""
        return {"items": await c.admin.rules(caller.workspace), "next_cursor": None}

    @router.post("/rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED, responses=problem_responses(422))
    async def create_rule(body: RuleIn, caller: RulesDep) -> Any:
        return await c.admin.add_rule(caller, _rule_values(body) | {"updated_by": caller.actor})

    @router.get("/rules/{rule_id}", response_model=RuleOut, responses=problem_responses(404))
    async def get_rule(rule_id: UUID, caller: AllocationDep) -> Any:
        return await c.admin.rule(caller.workspace, rule_id)

    @router.patch("/rules/{rule_id}", response_model=RuleOut, responses=problem_responses(404, 422))
    async def update_rule(rule_id: UUID, body: RulePatch, caller: RulesDep) -> Any:
        return await c.admin.update_rule(caller, rule_id, _rule_values(body) | {"updated_by": caller.actor})

    @router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404))
    async def delete_rule(rule_id: UUID, caller: RulesDep) -> Response:
        await c.admin.delete_rule(caller, rule_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/assignments/{customer_id}", response_model=AssignmentOut, responses=problem_responses(404))
    async def get_assignment(customer_id: UUID, caller: OpenCardDep) -> dict[str, Any]:
        """The card's owner, why, and every owner change before it (oldest first). A card
        outside the caller's scope, or deleted, is `404`."""
        return await c.queries.assignment(caller, customer_id)

    @router.get("/queue", response_model=QueuePage, responses=problem_responses(400))
    async def list_queue(caller: AllocationDep, cursor: Cursor = None, limit: Limit = 100) -> dict[str, Any]:
        """New leads no rep could take when they arrived, oldest first, with the reason (the
        caller's scope: an unowned lead reaches only roles of every card)."""
        return await c.queries.queue(caller, decode_cursor(cursor), limit)

    @router.post("/allocations/preview", response_model=RunOut, status_code=status.HTTP_201_CREATED, responses=problem_responses(422))
    async def preview(body: PreviewIn, caller: WizardDep) -> dict[str, Any]:
        """Exactly who would get which card (of the caller's scope); nothing changes until the preview is applied."""
        return await c.wizard.preview(caller, body.model_dump(mode="json"))

    @router.post("/allocations/apply", response_model=RunOut, responses=problem_responses(404, 409, 422))
    async def apply(body: ApplyIn, caller: WizardDep) -> dict[str, Any]:
        """Perform a preview as one run; cards merged away or deleted since are skipped."""
        return await c.wizard.apply(caller, body.preview_id)

    @router.get("/allocations", response_model=RunPage, responses=problem_responses(400))
    async def list_runs(
        caller: WizardDep,
        state: Literal["previewed", "applied"] | None = "applied",
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        return await c.wizard.runs(caller, state, cursor, limit)

    @router.get("/allocations/{run_id}", response_model=RunOut, responses=problem_responses(404))
    async def get_run(run_id: UUID, caller: WizardDep) -> dict[str, Any]:
        return await c.wizard.get(caller, run_id, with_items=True)

    @router.post("/transfers", response_model=TransferOut, status_code=status.HTTP_201_CREATED, responses=problem_responses(422))
    async def transfer(body: TransferIn, caller: TransferDep) -> dict[str, Any]:
        """Move the listed cards (or all of `from_rep_id`'s open leads) to `to_rep_id`, with a
        reason; only cards within the caller's scope."""
        return await c.transfers.transfer(caller, body.model_dump())

    @router.get("/transfers", response_model=TransferPage, responses=problem_responses(400))
    async def list_transfers(caller: AllocationDep, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
        return await c.transfers.page(caller, cursor, limit)

    return router
