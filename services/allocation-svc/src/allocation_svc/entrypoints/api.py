from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, status
from pydantic import BaseModel, Field

from allocation_svc.service_layer.handlers import AllocationAdmin
from crm_runtime.problems import found

Workspace = Annotated[str, Header(alias="X-Workspace", max_length=100)]


class RepIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    team: str | None = Field(default=None, max_length=200)
    branch: str | None = Field(default=None, max_length=200)
    skills: list[str] = Field(default_factory=list)
    weight: int = Field(default=1, ge=0, le=1000)
    capacity: int | None = Field(default=None, ge=0)
    available: bool = True


class RepOut(RepIn):
    id: UUID


class RuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    position: int = Field(default=100, ge=0)
    strategy: Literal["round_robin"] = "round_robin"
    criteria: dict[str, Any] = Field(default_factory=dict)
    rep_ids: list[UUID] = Field(default_factory=list)


class RuleOut(RuleIn):
    id: UUID
    cursor: int


class AssignmentOut(BaseModel):
    customer_id: UUID
    owner_id: UUID
    rule_id: UUID | None
    strategy: str
    reason: str
    assigned_at: datetime


def build_router(admin: AllocationAdmin) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["allocation"])

    @router.get("/reps", response_model=list[RepOut])
    async def list_reps(x_workspace: Workspace = "main") -> list[RepOut]:
        return [RepOut.model_validate(r, from_attributes=True) for r in await admin.reps(x_workspace)]

    @router.post("/reps", response_model=RepOut, status_code=status.HTTP_201_CREATED)
    async def create_rep(body: RepIn, x_workspace: Workspace = "main") -> RepOut:
        rep_id = await admin.add_rep(x_workspace, body.model_dump())
        return RepOut(id=rep_id, **body.model_dump())

    @router.get("/rules", response_model=list[RuleOut])
    async def list_rules(x_workspace: Workspace = "main") -> list[RuleOut]:
        return [RuleOut.model_validate(r, from_attributes=True) for r in await admin.rules(x_workspace)]

    @router.post("/rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED)
    async def create_rule(body: RuleIn, x_workspace: Workspace = "main") -> RuleOut:
        values = body.model_dump(mode="json")
        rule_id = await admin.add_rule(x_workspace, values)
        return RuleOut(id=rule_id, cursor=0, **body.model_dump())

    @router.get("/assignments/{customer_id}", response_model=AssignmentOut)
    async def get_assignment(customer_id: UUID) -> AssignmentOut:
        row = found(await admin.assignment(customer_id), "No assignment for this customer")
        return AssignmentOut.model_validate(row, from_attributes=True)

    return router
