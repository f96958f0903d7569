from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response, status

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
from crm_contracts.envelope import WORKSPACE_MAX
from crm_runtime.pagination import decode_cursor
from crm_runtime.problems import problem_responses

Workspace = Annotated[str, Header(alias="X-Workspace", min_length=1, max_length=WORKSPACE_MAX)]
User = Annotated[str, Header(alias="X-User", max_length=200, description="Who acts (until sign-in exists).")]
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
    async def list_reps(x_workspace: Workspace = "main") -> dict[str, Any]:
        return {"items": await c.admin.reps(x_workspace), "next_cursor": None}

    @router.post("/reps", response_model=RepOut, status_code=status.HTTP_201_CREATED, responses=problem_responses(422))
    async def create_rep(body: RepIn, x_workspace: Workspace = "main") -> dict[str, Any]:
        return await c.admin.add_rep(x_workspace, {**_rep_values(body), "away": _stored(body).get("away", [])})

    @router.get("/reps/{rep_id}", response_model=RepOut, responses=problem_responses(404))
    async def get_rep(rep_id: UUID, x_workspace: Workspace = "main") -> dict[str, Any]:
        return await c.admin.rep(x_workspace, rep_id)

    @router.patch("/reps/{rep_id}", response_model=RepOut, responses=problem_responses(404, 422))
    async def update_rep(rep_id: UUID, body: RepPatch, x_workspace: Workspace = "main") -> dict[str, Any]:
        """Change only the fields sent; `away` replaces the rep's away periods. Waiting leads are offered again."""
        return await c.admin.update_rep(x_workspace, rep_id, _rep_values(body))

    @router.get("/rules", response_model=RulePage)
    async def list_rules(x_workspace: Workspace = "main") -> dict[str, Any]:
        """Every rule of the workspace in the order they are tried (lowest position first)."""
        return {"items": await c.admin.rules(x_workspace), "next_cursor": None}

    @router.post("/rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED, responses=problem_responses(422))
    async def create_rule(body: RuleIn, x_workspace: Workspace = "main") -> Any:
        return await c.admin.add_rule(x_workspace, _rule_values(body))

    @router.get("/rules/{rule_id}", response_model=RuleOut, responses=problem_responses(404))
    async def get_rule(rule_id: UUID, x_workspace: Workspace = "main") -> Any:
        return await c.admin.rule(x_workspace, rule_id)

    @router.patch("/rules/{rule_id}", response_model=RuleOut, responses=problem_responses(404, 422))
    async def update_rule(rule_id: UUID, body: RulePatch, x_workspace: Workspace = "main") -> Any:
        return await c.admin.update_rule(x_workspace, rule_id, _rule_values(body))

    @router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404))
    async def delete_rule(rule_id: UUID, x_workspace: Workspace = "main") -> Response:
        await c.admin.delete_rule(x_workspace, rule_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/assignments/{customer_id}", response_model=AssignmentOut, responses=problem_responses(404))
    async def get_assignment(customer_id: UUID) -> dict[str, Any]:
        """The card's owner, why, and every owner change before it (oldest first)."""
        return await c.queries.assignment(customer_id)

    @router.get("/queue", response_model=QueuePage, responses=problem_responses(400))
    async def list_queue(x_workspace: Workspace = "main", cursor: Cursor = None, limit: Limit = 100) -> dict[str, Any]:
        """New leads no rep could take when they arrived, oldest first, with the reason."""
        return await c.queries.queue(x_workspace, decode_cursor(cursor), limit)

    @router.post("/allocations/preview", response_model=RunOut, status_code=status.HTTP_201_CREATED, responses=problem_responses(422))
    async def preview(body: PreviewIn, x_workspace: Workspace = "main", x_user: User = "user") -> dict[str, Any]:
        """Exactly who would get which card; nothing changes until the preview is applied."""
        return await c.wizard.preview(x_workspace, body.model_dump(mode="json"), x_user)

    @router.post("/allocations/apply", response_model=RunOut, responses=problem_responses(404, 409, 422))
    async def apply(body: ApplyIn, x_workspace: Workspace = "main", x_user: User = "user") -> dict[str, Any]:
        """Perform a preview as one run; cards merged away or deleted since are skipped."""
        return await c.wizard.apply(x_workspace, body.preview_id, x_user)

    @router.get("/allocations", response_model=RunPage, responses=problem_responses(400))
    async def list_runs(
        x_workspace: Workspace = "main",
        state: Literal["previewed", "applied"] | None = "applied",
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        return await c.wizard.runs(x_workspace, state, cursor, limit)

    @router.get("/allocations/{run_id}", response_model=RunOut, responses=problem_responses(404))
    async def get_run(run_id: UUID, x_workspace: Workspace = "main") -> dict[str, Any]:
        return await c.wizard.get(x_workspace, run_id, with_items=True)

    @router.post("/transfers", response_model=TransferOut, status_code=status.HTTP_201_CREATED, responses=problem_responses(422))
    async def transfer(body: TransferIn, x_workspace: Workspace = "main", x_user: User = "user") -> dict[str, Any]:
        """Move the listed cards (or all of `from_rep_id`'s open leads) to `to_rep_id`, with a reason."""
        return await c.transfers.transfer(x_workspace, body.model_dump(), x_user)

    @router.get("/transfers", response_model=TransferPage, responses=problem_responses(400))
    async def list_transfers(x_workspace: Workspace = "main", cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
        return await c.transfers.page(x_workspace, cursor, limit)

    return router
