"""Screen 2, search (seed 000): one box over name, ID / company number, phone and e-mail
(partial text, customer-svc `GET /v1/customers?q=`), the filter wizard (what the list API
filters by), saved filters as buttons at the top (`/v1/saved-filters`, action
`personal_filters`), a results table with sortable columns and paging. htmx re-reads only the
results while the person types (`hx-push-url` keeps the address shareable)."""

from datetime import date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.adapters.services import ApiProblem
from crm_console.entrypoints.web import Viewer, ViewerDep, form_errors, gather, is_htmx, render

router = APIRouter()
ZONE = ZoneInfo("Asia/Jerusalem")

STATUSES = ("new", "follow_up", "follow_up_meeting", "customer", "customer_club", "not_interested", "frozen", "fictitious")
CARD_TYPES = ("lead", "customer", "business_partner", "supplier", "service_provider", "employee")
# Query parameters the list API filters by (customer-svc FilterParams), as the wizard sends them.
SINGLE = ("q", "folder", "owner_id", "branch", "created_from", "created_to", "active", "tag")
MULTI = ("status", "card_type")
# Sortable columns: key -> the row value it orders by.
SORTS = ("name", "status", "created_at", "last_contact_at", "next_contact_at")


def display_name(row: dict[str, Any]) -> str:
    parts = [row.get("first_name"), row.get("last_name")]
    name = " ".join(p for p in parts if p)
    company = row.get("company_name")
    if company and name:
        return f"{name} ({company})"
    return name or company or ""


def criteria(request: Request) -> dict[str, Any]:
    """The filters the address carries (empty values dropped)."""
    query = request.query_params
    found: dict[str, Any] = {}
    for name in SINGLE:
        value = (query.get(name) or "").strip()
        if value:
            found[name] = value
    for name in MULTI:
        values = [v for v in query.getlist(name) if v]
        if values:
            found[name] = values
    return found


def api_params(found: dict[str, Any]) -> dict[str, Any]:
    """The list API's parameters: dates as the start/end of the day, `owner_id=none` as `unassigned`."""
    params = dict(found)
    if params.get("owner_id") == "none":
        params.pop("owner_id")
        params["unassigned"] = "true"
    for name, moment in (("created_from", time.min), ("created_to", time.max)):
        if name in params:
            params[name] = day_edge(params[name], moment)
    return params


def day_edge(value: str, moment: time) -> str:
    """A wizard date as the start or end of that day in Israel; anything else as typed (the API names it)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return datetime.combine(day, moment, tzinfo=ZONE).isoformat()


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """The page's rows ordered by a column; rows without a value last either way."""
    if key not in SORTS:
        return rows

    def value(row: dict[str, Any]) -> Any:
        if key == "name":
            return display_name(row).casefold()
        if key == "status":
            return STATUSES.index(row["status"]) if row.get("status") in STATUSES else len(STATUSES)
        raw = row.get(key)
        return datetime.fromisoformat(raw) if isinstance(raw, str) else raw

    present = [r for r in rows if value(r) not in (None, "")]
    missing = [r for r in rows if value(r) in (None, "")]
    return sorted(present, key=value, reverse=descending) + missing


def address(found: dict[str, Any], **extra: Any) -> str:
    pairs: list[tuple[str, str]] = []
    for name, value in {**found, **extra}.items():
        if value in (None, ""):
            continue
        for v in value if isinstance(value, list) else [value]:
            pairs.append((name, str(v)))
    return "/search" + ("?" + urlencode(pairs) if pairs else "")


async def _reps(viewer: Viewer) -> list[dict[str, Any]]:
    try:
        answer = await viewer.backend.get("allocation", "/v1/reps")
    except ApiProblem:
        return []
    items = answer.get("items", []) if isinstance(answer, dict) else []
    return [r for r in items if isinstance(r, dict)]


async def _saved(viewer: Viewer) -> list[dict[str, Any]]:
    if not viewer.can("personal_filters"):
        return []
    try:
        answer = await viewer.backend.get("customer", "/v1/saved-filters")
    except ApiProblem:
        return []
    return list(answer.get("items", [])) if isinstance(answer, dict) else []


async def _results(
    viewer: Viewer, found: dict[str, Any], saved_filter: str | None, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, ApiProblem | None]:
    params: dict[str, Any] = api_params(found)
    if saved_filter:
        params["saved_filter"] = saved_filter
    if cursor:
        params["cursor"] = cursor
    try:
        answer = await viewer.backend.get("customer", "/v1/customers", params=params)
    except ApiProblem as problem:
        if problem.status in (400, 403, 422):
            return [], None, problem
        raise
    return list(answer.get("items", [])), answer.get("next_cursor"), None


@router.get("/search", response_class=HTMLResponse)
async def search_page(request: Request, viewer: ViewerDep) -> Response:
    found = criteria(request)
    query = request.query_params
    saved_filter = query.get("saved_filter") or None
    cursor = query.get("cursor") or None
    sort = query.get("sort") if query.get("sort") in SORTS else ""
    direction = "asc" if query.get("dir") == "asc" else "desc"
    partial = is_htmx(request) and request.headers.get("HX-Target") == "results"
    if partial:
        (rows, next_cursor, problem), reps = await gather(_results(viewer, found, saved_filter, cursor), _reps(viewer))
        saved: list[dict[str, Any]] = []
    else:
        (rows, next_cursor, problem), reps, saved = await gather(
            _results(viewer, found, saved_filter, cursor), _reps(viewer), _saved(viewer)
        )
    if sort:
        rows = sort_rows(rows, sort, direction == "desc")
    state = {**found, **({"saved_filter": saved_filter} if saved_filter else {})}
    context = {
        "found": found,
        "rows": rows,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "problem": problem,
        "errors": form_errors(problem) if problem else {},
        "reps": {str(r.get("id")): r.get("name", "") for r in reps},
        "saved": saved,
        "saved_filter": saved_filter,
        "sort": sort,
        "direction": direction,
        "sorts": SORTS,
        "statuses": STATUSES,
        "card_types": CARD_TYPES,
        "display_name": display_name,
        "link": lambda **extra: address(state, **extra),
        "state": state,
    }
    template = "partials/search_results.html" if partial else "pages/search.html"
    return render(request, template, context, viewer=viewer)


@router.post("/search/saved-filters")
async def save_filter(request: Request, viewer: ViewerDep, name: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Save the wizard's current filters under a name (customer-svc keeps them per person)."""
    form = await request.form()
    params: dict[str, Any] = {}
    for key in SINGLE:
        value = str(form.get(key) or "").strip()
        if value:
            params[key] = value
    for key in MULTI:
        values = [str(v) for v in form.getlist(key) if v]
        if values:
            params[key] = values
    params = api_params(params)
    if params.get("unassigned"):
        params["unassigned"] = True
    if "active" in params:
        params["active"] = params["active"] == "true"
    if not name.strip():
        return RedirectResponse(address(criteria_from(params)), status_code=303)
    answer = await viewer.backend.post("customer", "/v1/saved-filters", json={"name": name.strip(), "params": params})
    return RedirectResponse(address({}, saved_filter=answer.get("id")), status_code=303)


def criteria_from(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k in SINGLE or k in MULTI}


@router.post("/search/saved-filters/{filter_id}/delete")
async def delete_filter(filter_id: UUID, viewer: ViewerDep) -> Response:
    await viewer.backend.delete("customer", f"/v1/saved-filters/{filter_id}")
    return RedirectResponse("/search", status_code=303)
