"""Administration: the workspace's roles, the caller's workspaces, the audit log.

- Roles (`/v1/roles`): any member reads their workspace's roles (the console shows what it
  may); changing one needs `actions.manage_roles` and the administration section. A change is
  published on the access topic (every service's cache follows it within moments) and audited.
- Workspaces (`/v1/workspaces`): a signed-in user creates one and becomes its administrator,
  and lists their own (also those that exist by their memberships alone, such as `main`).
- The audit log (`GET /v1/audit`): every service's audit lines, newest first, for those who
  may manage roles.

Role management, members and the audit log are for people: a service caller (it holds every
permission, for the reads it does) is refused them."""

from datetime import datetime
from typing import Annotated, Any, Final
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_contracts.events import Role
from crm_contracts.permissions import RolePermissions
from crm_contracts.text import storable_problems
from crm_runtime.access import CallerDep, IdentityDep, access_of, forbidden
from crm_runtime.pagination import decode_cursor, encode_cursor
from crm_runtime.problems import invalid_fields, problem_responses
from customer_svc.adapters.audit_log import AuditFilter, AuditLine
from customer_svc.bootstrap import Container
from customer_svc.domain.roles import RoleRecord
from customer_svc.entrypoints.guards import ManageRolesDep
from customer_svc.service_layer.memberships import OwnWorkspace

# A workspace name a new workspace may take: what `X-Workspace` carries, kept to a plain form.
WORKSPACE_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,99}$"


RoleName = Annotated[Role, Path(description="`administrator`, `manager`, `sales_rep` or `read_only`.")]


class RoleOut(BaseModel):
    role: Role
    permissions: RolePermissions
    default: bool = Field(description="True: never changed in this workspace (the shipped defaults).")
    updated_by: str | None = Field(description="Who last changed it (token subject); null for the defaults.")
    updated_at: datetime | None


class RoleList(BaseModel):
    items: list[RoleOut]


def role_out(record: RoleRecord) -> RoleOut:
    return RoleOut(
        role=record.role,
        permissions=record.permissions,
        default=record.is_default,
        updated_by=record.updated_by,
        updated_at=record.updated_at,
    )


class WorkspaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=WORKSPACE_NAME_PATTERN, description="1..100 of `a-z`, `0-9`, `-`, `_`; the `X-Workspace` value.")
    display_name: str | None = Field(default=None, min_length=1, max_length=200)


class WorkspaceOut(BaseModel):
    name: str
    display_name: str | None
    created_at: datetime | None = Field(description="Null for a workspace that exists by its memberships alone (older ones).")
    role: Role = Field(description="The caller's role in it.")
    rep_id: UUID | None = Field(description="The rep the caller is linked to in it.")


class WorkspaceList(BaseModel):
    items: list[WorkspaceOut]


def workspace_out(workspace: OwnWorkspace) -> WorkspaceOut:
    return WorkspaceOut(
        name=workspace.name,
        display_name=workspace.display_name,
        created_at=workspace.created_at,
        role=workspace.membership.role,
        rep_id=workspace.membership.rep_id,
    )


class AuditLineOut(BaseModel):
    id: UUID = Field(description="The audit event's id.")
    at: datetime
    service: str
    actor: str
    action: str
    outcome: str = Field(description="`done` or `refused`.")
    target_type: str | None
    target_id: str | None
    permission: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditLineOut]
    next_cursor: str | None


def audit_out(line: AuditLine) -> AuditLineOut:
    return AuditLineOut.model_validate(line, from_attributes=True)


class AuditParams(BaseModel):
    """`GET /v1/audit`'s filters: exact matches, and a time window [from, to)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    actor: str | None = Field(default=None, min_length=1, max_length=255, description="Token subject, `cli`, a service.")
    action: str | None = Field(default=None, min_length=1, max_length=100, description="`customer.update`, `refused`, ….")
    outcome: str | None = Field(default=None, min_length=1, max_length=20, description="`done` or `refused`.")
    target_type: str | None = Field(default=None, min_length=1, max_length=50, description="`customer`, `role`, `membership`, ….")
    target_id: str | None = Field(default=None, min_length=1, max_length=255)
    service: str | None = Field(default=None, min_length=1, max_length=50, description="`customer-svc`, `allocation-svc`, ….")
    since: AwareDatetime | None = Field(default=None, alias="from", description="At or after this time (with its offset).")
    until: AwareDatetime | None = Field(default=None, alias="to", description="Before this time (with its offset).")
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=50, ge=1, le=200)


def build_admin_router(app: Container) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/roles", response_model=RoleList, tags=["access"])
    async def roles(caller: CallerDep) -> RoleList:
        """Every role of the workspace with what it may (as changed here, else the defaults)."""
        return RoleList(items=[role_out(r) for r in await app.roles.list(caller.workspace)])

    @router.get("/roles/{role}", response_model=RoleOut, tags=["access"])
    async def role(role: RoleName, caller: CallerDep) -> RoleOut:
        return role_out(await app.roles.get(caller.workspace, role))

    @router.put("/roles/{role}", response_model=RoleOut, tags=["access"], responses=problem_responses(409))
    async def put_role(role: RoleName, body: RolePermissions, caller: ManageRolesDep) -> RoleOut:
        """Set what the role may (the whole role). Needs `actions.manage_roles`. The
        administrator role keeps the administration section, `manage_roles` and the `all`
        scope (`409`, `rule` = `administrator_lockout`): nobody could change roles otherwise.
        Every service applies the change within moments (the access topic)."""
        return role_out(await app.roles.put(caller.workspace, role, body, caller.actor))

    @router.delete("/roles/{role}", response_model=RoleOut, tags=["access"])
    async def reset_role(role: RoleName, caller: ManageRolesDep) -> RoleOut:
        """Back to the shipped defaults; the role as it now stands. Needs `actions.manage_roles`."""
        return role_out(await app.roles.reset(caller.workspace, role, caller.actor))

    @router.post("/workspaces", response_model=WorkspaceOut, status_code=201, tags=["access"], responses=problem_responses(409))
    async def create_workspace(request: Request, body: WorkspaceIn, identity: IdentityDep) -> WorkspaceOut:
        """A new workspace; the signed-in user becomes its administrator (usable with
        `X-Workspace` within moments, once the access topic carried it). `409` when the name
        is taken. People only: a service is refused."""
        if identity.client_id is not None and identity.client_id in access_of(request).service_clients:
            raise forbidden("Only a signed-in person may create a workspace.")
        problems = storable_problems(body.model_dump(mode="python", exclude_unset=True), ())
        if problems:
            raise invalid_fields(problems)
        created = await app.memberships.create_workspace(body.name, body.display_name, identity.subject, identity.preferred_username)
        return workspace_out(created)

    @router.get("/workspaces", response_model=WorkspaceList, tags=["access"])
    async def own_workspaces(identity: IdentityDep) -> WorkspaceList:
        """The signed-in user's workspaces by name, with their role in each."""
        return WorkspaceList(items=[workspace_out(w) for w in await app.memberships.workspaces_of(identity.subject)])

    @router.get("/audit", response_model=AuditPage, tags=["access"], responses=problem_responses(400))
    async def audit(params: Annotated[AuditParams, Query()], caller: ManageRolesDep) -> AuditPage:
        """The workspace's audit log, newest first: every change, merge, transfer, export, card
        opened, permission change and refusal of every service, with actor, time, target and
        (edits) the values before and after. Needs `actions.manage_roles`."""
        problems = storable_problems(params.model_dump(mode="python", exclude={"since", "until", "limit"}, exclude_none=True), ())
        if problems:
            raise invalid_fields(problems)
        where = AuditFilter(**params.model_dump(exclude={"cursor", "limit"}))
        rows = await app.audit_log.page(caller.workspace, where, decode_cursor(params.cursor), params.limit + 1)
        following = encode_cursor(rows[params.limit - 1].at, rows[params.limit - 1].id) if len(rows) > params.limit else None
        return AuditPage(items=[audit_out(line) for line in rows[: params.limit]], next_cursor=following)

    return router
