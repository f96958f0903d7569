"""Who may act in a workspace (customer-svc owns memberships; next, roles and permissions too).

`GET /v1/me` is for anyone signed in, member of a workspace or not yet. The members of a
workspace are for its administrators: the list comes from the database, each change is staged
in the outbox for the access topic, which every service's access cache follows (so a change
takes effect everywhere within moments, not within this request)."""

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Path, Query

from crm_contracts.text import unstorable
from crm_runtime.access import AdminDep, IdentityDep
from crm_runtime.problems import Problem, problem_responses
from customer_svc.bootstrap import Container
from customer_svc.domain.memberships import Membership
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
        roles = app.runtime.memberships.of(identity.subject)
        return MeOut(
            subject=identity.subject,
            username=identity.preferred_username,
            workspaces=[WorkspaceRole(workspace=w, role=roles[w]) for w in sorted(roles)],
        )

    @router.get("/members", response_model=MemberPage, tags=["access"], responses=problem_responses(400))
    async def members(
        caller: AdminDep,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> MemberPage:
        """The workspace's members by subject. Administrators only."""
        rows = await app.memberships.page(caller.workspace, decode_member_cursor(cursor), limit + 1)
        following = encode_member_cursor(rows[limit - 1].subject) if len(rows) > limit else None
        return MemberPage(items=[member_out(m) for m in rows[:limit]], next_cursor=following)

    @router.put("/members/{subject}", response_model=MemberOut, tags=["access"], responses=problem_responses(409))
    async def put_member(subject: Subject, body: MembershipIn, caller: AdminDep) -> MemberOut:
        """Make `subject` a member with `role`, or change their role. Administrators only;
        demoting the workspace's last administrator is a `409` (`rule` = `last_administrator`)."""
        keep = "username" not in body.model_fields_set
        stored = await app.memberships.put(caller.workspace, subject, body.role, body.username, caller.actor, keep_username=keep)
        return member_out(stored)

    @router.delete("/members/{subject}", status_code=204, tags=["access"], responses=problem_responses(404, 409))
    async def delete_member(subject: Subject, caller: AdminDep) -> None:
        """Administrators only; removing the workspace's last administrator is a `409`."""
        await app.memberships.remove(caller.workspace, subject, caller.actor)

    return router
