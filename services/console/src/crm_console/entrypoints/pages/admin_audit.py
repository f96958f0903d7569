"""Administration › the audit log (customer-svc `GET /v1/audit`): every service's audit lines,
newest first, filtered by actor, action, outcome, target, service and a time window, a page at
a time (`next_cursor`). The window is typed in the person's local time (the console's zone) and
sent with its offset; times are shown in the person's locale."""

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from crm_console.adapters.services import ApiProblem
from crm_console.entrypoints.pages.admin import moment, page, refusal, require
from crm_console.entrypoints.web import ViewerDep

router = APIRouter()

FILTERS = ("actor", "action", "outcome", "target_type", "target_id", "service")
WINDOW = ("from", "to")
SERVICES = ("customer-svc", "intake-svc", "dedup-svc", "allocation-svc", "timeline-svc")
OUTCOMES = ("done", "refused")
TARGET_TYPES = ("customer", "role", "membership", "field_definition", "channel", "rep", "rule", "workspace", "merge", "export")
PAGE_SIZE = 50


def audit_params(query: dict[str, str], zone: ZoneInfo, errors: dict[str, str]) -> dict[str, str]:
    """The filters to pass to `GET /v1/audit`: the ones filled in, the window with its offset."""
    params = {name: query[name].strip() for name in FILTERS if query.get(name, "").strip()}
    for name in WINDOW:
        raw = query.get(name, "").strip()
        if raw:
            sent = moment(raw, zone)
            if sent is None:
                errors[name] = "admin.audit.error.date"
            else:
                params[name] = sent
    if query.get("cursor"):
        params["cursor"] = query["cursor"]
    params["limit"] = str(PAGE_SIZE)
    return params


def changes(line: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(what, before, after) for each value an audit line records."""
    before, after = line.get("before") or {}, line.get("after") or {}
    return [(key, before.get(key), after.get(key)) for key in sorted(set(before) | set(after))]


@router.get("/admin/audit")
async def admin_audit(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "audit")
    query = {name: value for name, value in request.query_params.items() if name in (*FILTERS, *WINDOW, "cursor")}
    errors: dict[str, str] = {}
    params = audit_params(query, viewer.t.zone, errors)
    members = await viewer.backend.get("customer", "/v1/members", params={"limit": 200})
    names = {m["subject"]: m.get("username") or m["subject"] for m in members.get("items", [])}
    if "actor" in params:
        # A user name typed in the actor box means that member (the log records subjects).
        subjects = {name: subject for subject, name in names.items()}
        params["actor"] = subjects.get(params["actor"], params["actor"])
    items: list[dict[str, Any]] = []
    following: str | None = None
    form_error: str | None = None
    status = 200
    if errors:
        form_error, status = "error.form", 422
    else:
        try:
            found = await viewer.backend.get("customer", "/v1/audit", params=params)
            items, following = found.get("items", []), found.get("next_cursor")
        except ApiProblem as problem:
            errors, form_error = refusal(problem)
            status = problem.status
    more = None
    if following:
        kept = {name: value for name, value in query.items() if name != "cursor" and value}
        more = {**kept, "cursor": following}
    return page(
        request,
        viewer,
        "audit",
        "pages/admin_audit.html",
        {
            "query": {name: query.get(name, "") for name in (*FILTERS, *WINDOW)},
            "lines": [{**line, "changes": changes(line)} for line in items],
            "names": names,
            "more": more,
            "errors": errors,
            "form_error": form_error,
            "services": SERVICES,
            "outcomes": OUTCOMES,
            "target_types": TARGET_TYPES,
        },
        status=status,
    )
