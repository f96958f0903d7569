"""Who may act in a workspace (customer-svc owns memberships, roles and workspaces).

`GET /v1/me` is for anyone signed in, member of a workspace or not yet. The members of a
workspace are for those whose role may manage roles (`actions.manage_roles`, administrators by
default): the list comes from the database, each change is staged in the outbox for the access
topic, which every service's access cache follows (so a change takes effect everywhere within
moments, not within this request), and audited (`membership.grant`, `membership.revoke`)."""

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Path, Query

from crm_contracts.text import unstorable
from crm_runtime.access import IdentityDep
from crm_runtime.problems import Problem, problem_responses
from customer_svc.bootstrap import Container
from customer_svc.domain.memberships import Membership
from customer_svc.entrypoints.guards import ManageRolesDep
from customer_svc.entrypoints.schemas import MemberOut, MemberPage, MembershipIn, MeOut, WorkspaceRole

Subject = Annotated[str, Path(min_length=1, max_length=255, description="The identity provider's `sub` of the user.")]


def encode_member_cursor(subject: str) -> str:
    return base64.urlsafe_b64encode(subject.encode()).decode()


def decode_member_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        subject = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, binascii.Error):
        subject = None
    if not subject or unstorable(subject):
        raise Problem(400, "Invalid cursor", "The cursor is not one this API handed out.", field="cursor")
    return subject


def member_out(membership: Membership) -> MemberOut:
    return MemberOut.model_validate(membership, from_attributes=True)


def build_members_router(app: Container) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/me", response_model=MeOut, tags=["access"])
    async def me(identity: IdentityDep) -> MeOut:
        """The signed-in user and their workspaces (from the access cache), by name."""
        memberships = app.runtime.memberships
        members = memberships.workspaces(identity.subject)
        return MeOut(
            subject=identity.subject,
            username=identity.preferred_username,
            workspaces=[
                WorkspaceRole(
                    workspace=w,
                    role=members[w].role,
                    rep_id=members[w].rep_id,
                    permissions=memberships.permissions(w, members[w].role),
                )
                for w in sorted(members)
            ],
        )

    @router.get("/members", response_model=MemberPage, tags=["access"], responses=problem_responses(400))
    async def members(
        caller: ManageRolesDep,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> MemberPage:
        """The workspace's members by subject. Needs `actions.manage_roles`."""
        rows = await app.memberships.page(caller.workspace, decode_member_cursor(cursor), limit + 1)
        following = encode_member_cursor(rows[limit - 1].subject) if len(rows) > limit else None
        return MemberPage(items=[member_out(m) for m in rows[:limit]], next_cursor=following)

    @router.put("/members/{subject}", response_model=MemberOut, tags=["access"], responses=problem_responses(409))
    async def put_member(subject: Subject, body: MembershipIn, caller: ManageRolesDep) -> MemberOut:
        """Make `subject` a member with `role`, or change their role or rep (`rep_id`: their `own`
        cards are that rep's; not sent: left as it is, `null`: unlinked). Needs
        `actions.manage_roles`; demoting the workspace's last administrator is a `409`
        (`rule` = `last_administrator`)."""
        sent = body.model_fields_set
        stored = await app.memberships.put(
            caller.workspace,
            subject,
            body.role,
            body.username,
            caller.actor,
            keep_username="username" not in sent,
            rep_id=body.rep_id,
            keep_rep="rep_id" not in sent,
        )
        return member_out(stored)

    @router.delete("/members/{subject}", status_code=204, tags=["access"], responses=problem_responses(404, 409))
    async def delete_member(subject: Subject, caller: ManageRolesDep) -> None:
        """Needs `actions.manage_roles`; removing the workspace's last administrator is a `409`."""
        await app.memberships.remove(caller.workspace, subject, caller.actor)

    return router
