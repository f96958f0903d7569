"""Administration › users and workspaces (customer-svc `/v1/members`, `/v1/workspaces`): the
workspace's members with their role and the rep they are linked to (change either, add a user
by their subject, remove one), and the person's own workspaces (create one: they become its
administrator). The last administrator cannot be removed or demoted (the service's `409`)."""

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from crm_console.adapters.services import ApiProblem, Unavailable
from crm_console.entrypoints.pages.admin import FormState, kept, page, refusal, require, status_of, submitted, text
from crm_console.entrypoints.web import Viewer, ViewerDep, gather
from crm_contracts.permissions import Role

router = APIRouter()

ROLES = tuple(role.value for role in Role)
NOTICES = {"saved": "state.saved", "removed": "admin.members.removed", "workspace": "admin.workspaces.created"}


def blank_member() -> dict[str, Any]:
    return {"subject": "", "username": "", "role": Role.SALES_REP.value, "rep_id": ""}


async def members_page(
    request: Request,
    viewer: Viewer,
    state: FormState,
    *,
    workspace: dict[str, str] | None = None,
    workspace_errors: dict[str, str] | None = None,
) -> Response:
    cursor = request.query_params.get("cursor")
    members, reps, workspaces = await gather(
        kept(viewer.backend.get("customer", "/v1/members", params={"cursor": cursor} if cursor else None), state.again),
        kept(viewer.backend.get("allocation", "/v1/reps"), state.again),
        kept(viewer.backend.get("customer", "/v1/workspaces", workspace=None), state.again),
    )
    typed = state.values or {}
    return page(
        request,
        viewer,
        "members",
        "pages/admin_members.html",
        {
            "members": members.get("items", []),
            "next_cursor": members.get("next_cursor"),
            "reps": reps.get("items", []),
            "rep_names": {r["id"]: r["name"] for r in reps.get("items", [])},
            "workspaces": workspaces.get("items", []),
            "roles": ROLES,
            # A refused row keeps what was chosen in it; a refused new member keeps what was typed.
            "typed_row": typed if typed.get("row") else {},
            "adding": blank_member() if typed.get("row") or not typed else typed,
            "errors": state.errors,
            "form_error": state.form_error,
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "workspace": workspace or {"name": "", "display_name": ""},
            "workspace_errors": workspace_errors or {},
        },
        status=state.status,
    )


@router.get("/admin/members")
async def admin_members(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "members")
    return await members_page(request, viewer, FormState())


@router.post("/admin/members")
async def admin_member_save(request: Request, viewer: ViewerDep) -> Response:
    """Add a member or change one's role and rep link (`PUT /v1/members/{subject}`)."""
    require(viewer, "members")
    form = await request.form()
    subject = text(form, "subject")
    typed: dict[str, Any] = {
        "subject": subject,
        "username": text(form, "username"),
        "role": text(form, "role"),
        "rep_id": text(form, "rep_id"),
        "row": text(form, "row") == "true",
    }
    errors = {} if subject else {"subject": "error.required"}
    body: dict[str, Any] = {"role": typed["role"], "rep_id": typed["rep_id"] or None}
    if typed["username"]:
        body["username"] = typed["username"]
    refused = await submitted(typed, errors, lambda: viewer.backend.put("customer", f"/v1/members/{quote(subject, safe='')}", json=body))
    if refused:
        return await members_page(request, viewer, refused)
    return RedirectResponse("/admin/members?done=saved", status_code=303)


@router.post("/admin/members/remove")
async def admin_member_remove(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "members")
    form = await request.form()
    subject = text(form, "subject")
    try:
        await viewer.backend.delete("customer", f"/v1/members/{quote(subject, safe='')}")
    except (ApiProblem, Unavailable) as problem:
        if isinstance(problem, ApiProblem) and problem.status != 409:
            raise
        _, general = refusal(problem)
        return await members_page(request, viewer, FormState(form_error=general, status=status_of(problem)))
    return RedirectResponse("/admin/members?done=removed", status_code=303)


@router.post("/admin/workspaces")
async def admin_workspace_create(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "members")
    form = await request.form()
    typed = {"name": text(form, "name"), "display_name": text(form, "display_name")}
    body: dict[str, Any] = {"name": typed["name"]}
    if typed["display_name"]:
        body["display_name"] = typed["display_name"]
    try:
        await viewer.backend.post("customer", "/v1/workspaces", json=body, workspace=None)
    except (ApiProblem, Unavailable) as problem:
        errors, general = refusal(problem)
        if isinstance(problem, ApiProblem) and problem.status == 409:
            errors, general = {"name": "admin.workspaces.error.taken"}, None
        elif "name" in errors:
            errors["name"] = "admin.workspaces.error.name"
        state = FormState(form_error=general, status=status_of(problem))
        return await members_page(request, viewer, state, workspace=typed, workspace_errors=errors)
    return RedirectResponse("/admin/members?done=workspace", status_code=303)
