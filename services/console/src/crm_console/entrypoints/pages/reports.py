"""Screen 8, the manager's view: how many cards fall in each status (the seed's Hebrew labels),
owner (allocation-svc reps' names), source channel (intake-svc channels' names) and affiliate
(seed 001 keeps the affiliate link "for future reports and measurements"), each a table with a
small chart of CSS bars beside it (aria-hidden: the table is the data).

customer-svc counts in SQL within the caller's scope (`GET /v1/customers/counts?by=`), so the
screen shows what the person reaches and nothing more. The menu offers it to roles with
`actions.export` (reports are data leaving the card screens); the page asks the same."""

from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from crm_console.adapters.services import ApiProblem
from crm_console.domain.reports import DIMENSIONS, Counts, counts, names_by_id, with_search_links
from crm_console.entrypoints.web import Viewer, ViewerDep, gather, render

router = APIRouter()


def _require(viewer: Viewer) -> None:
    if not viewer.sees("customers"):
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": "sections.customers"})
    if not viewer.can("export"):
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": "actions.export"})


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def range_params(viewer: Viewer, start: date | None, end: date | None) -> dict[str, str]:
    """The list filters of a date range in the person's time zone: from the start of `start` to
    the end of `end` (inclusive)."""
    zone = viewer.t.zone
    params: dict[str, str] = {}
    if start is not None:
        params["created_from"] = datetime.combine(start, time.min, zone).isoformat()
    if end is not None:
        params["created_to"] = datetime.combine(end + timedelta(days=1), time.min, zone).isoformat()
    return params


async def _count(viewer: Viewer, by: str, params: dict[str, str]) -> dict[str, Any] | ApiProblem:
    try:
        answer = await viewer.backend.get("customer", "/v1/customers/counts", params={"by": by, **params})
    except ApiProblem as exc:
        if exc.status in (403, 422):
            return exc  # e.g. a field the role hides: that table says so, the others stand
        raise
    return answer if isinstance(answer, dict) else {"by": by, "items": [], "total": 0}


async def _names(viewer: Viewer, service: str, path: str, allowed: bool) -> dict[str, str]:
    if not allowed:
        return {}
    try:
        return names_by_id(await viewer.backend.get(service, path))
    except ApiProblem:
        return {}  # ids without names: the rows still count


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(viewer: ViewerDep, request: Request) -> HTMLResponse:
    _require(viewer)
    start, end = _day(request.query_params.get("from")), _day(request.query_params.get("to"))
    params = range_params(viewer, start, end)
    answers = await gather(
        *(_count(viewer, by, params) for by in DIMENSIONS),
        _names(viewer, "allocation", "/v1/reps", True),
        _names(viewer, "intake", "/v1/channels", viewer.sees("channels")),
    )
    reps, channels = answers[len(DIMENSIONS)], answers[len(DIMENSIONS) + 1]
    first, last = start.isoformat() if start else "", end.isoformat() if end else ""
    linked = viewer.can("search")
    tables: list[tuple[str, Counts | None, ApiProblem | None]] = []
    for by, answer in zip(DIMENSIONS, answers, strict=False):
        if isinstance(answer, ApiProblem):
            tables.append((by, None, answer))
            continue
        table = counts({**answer, "by": by}, viewer.t, reps, channels)
        tables.append((by, with_search_links(table, first, last) if linked else table, None))
    context = {"tables": tables, "start": first, "end": last}
    return render(request, "pages/reports.html", context, viewer=viewer)
