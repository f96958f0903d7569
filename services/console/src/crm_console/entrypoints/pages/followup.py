"""Screen 6, the follow-up list (seed 003: "רשימות Follow Up", reminders, logging calls): the
person's open reminders and scheduled meetings by day with done and move in one click, and a compact form that logs a
call with its outcome; the card's status then moves by itself (timeline-svc and customer-svc do
that), and the screen re-reads the card until it shows the new status.

Needs `sections.timeline`; done, move and logging a call need `actions.edit` (absent otherwise)."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from crm_console.adapters.services import ApiProblem
from crm_console.domain.allocation import card_name
from crm_console.domain.followup import OUTCOMES, as_datetime, by_day, from_local_input, local_input
from crm_console.entrypoints.web import Viewer, ViewerDep, form_errors, gather, is_htmx, render

router = APIRouter()

LIMIT = 100
POLLS = 20  # status re-reads after a call (one a second) before the screen stops waiting


def _require(viewer: Viewer, edit: bool = False) -> None:
    if not viewer.sees("timeline"):
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": "sections.timeline"})
    if edit and not viewer.can("edit"):
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": "actions.edit"})


def _who(viewer: Viewer, who: str) -> str:
    """`mine` (a rep's own reminders) or `all` (every reminder the role reaches)."""
    return "mine" if who != "all" and viewer.rep_id else "all"


async def _card(viewer: Viewer, customer_id: str) -> dict[str, Any] | None:
    try:
        card = await viewer.backend.get("customer", f"/v1/customers/{customer_id}")
    except ApiProblem:
        return None
    return card if isinstance(card, dict) else None


async def _meetings(viewer: Viewer, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Scheduled meetings; a timeline-svc without the meetings list (older) gives none."""
    try:
        page = await viewer.backend.get("timeline", "/v1/meetings", params={**params, "state": "scheduled"})
    except ApiProblem as problem:
        if problem.status in (404, 405):
            return []
        raise
    items: list[dict[str, Any]] = page.get("items", []) if isinstance(page, dict) else []
    return items


async def _list_context(viewer: Viewer, who: str, errors: dict[str, str] | None = None, flash: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": LIMIT}
    if who == "mine" and viewer.rep_id:
        params["owner_id"] = viewer.rep_id
    page, meetings = await gather(
        viewer.backend.get("timeline", "/v1/reminders", params={**params, "state": "open"}), _meetings(viewer, params)
    )
    reminders: list[dict[str, Any]] = page.get("items", []) if isinstance(page, dict) else []
    items = [{**i, "at": i.get("due_at")} for i in reminders] + [{**m, "at": m.get("scheduled_at")} for m in meetings]
    items.sort(key=lambda i: str(i["at"] or ""))
    ids = list(dict.fromkeys(str(i["customer_id"]) for i in items))
    cards = dict(zip(ids, await gather(*(_card(viewer, i) for i in ids)), strict=True))
    zone = viewer.t.zone
    now = datetime.now(UTC)
    rows = []
    for item in items:
        card = cards.get(str(item["customer_id"]))
        at = as_datetime(item.get("at")) or now
        rows.append(
            {**item, "card": card, "name": card_name(card) if card else "", "move_to": local_input(max(at, now) + timedelta(days=1), zone)}
        )
    return {
        "days": by_day(rows, now, zone),
        "who": who,
        "errors": errors or {},
        "flash": flash,
        "more": bool(page.get("next_cursor")) if isinstance(page, dict) else False,
        "can_edit": viewer.can("edit"),
    }


def _call_context(
    viewer: Viewer, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None, card: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "call": {"number": "", "customer_id": "", "outcome": "", "direction": "outbound", "summary": ""} | (values or {}),
        "call_card": card,
        "call_name": card_name(card) if card else "",
        "call_errors": errors or {},
        "outcomes": OUTCOMES,
    }


@router.get("/follow-up")
async def followup_page(request: Request, viewer: ViewerDep, who: str = "mine") -> HTMLResponse:
    _require(viewer)
    context = await _list_context(viewer, _who(viewer, who))
    context |= _call_context(viewer)
    context |= {"logged": None, "has_rep": bool(viewer.rep_id)}
    return render(request, "pages/followup.html", context, viewer=viewer)


@router.get("/follow-up/list")
async def followup_list(request: Request, viewer: ViewerDep, who: str = "mine") -> HTMLResponse:
    _require(viewer)
    return render(request, "partials/followup_list.html", await _list_context(viewer, _who(viewer, who)), viewer=viewer)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


def _after_change(request: Request, viewer: Viewer, template_context: dict[str, Any], status: int = 200) -> HTMLResponse:
    if is_htmx(request):
        return render(request, "partials/followup_list.html", template_context, viewer=viewer, status=status)
    context = template_context | _call_context(viewer) | {"logged": None, "has_rep": bool(viewer.rep_id)}
    return render(request, "pages/followup.html", context, viewer=viewer, status=status)


@router.post("/follow-up/items/{interaction_id}/done")
async def reminder_done(request: Request, interaction_id: UUID, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, edit=True)
    form = await _form(request)
    meeting = form.get("kind") == "meeting"
    change = {"outcome": "held"} if meeting else {"done": True}
    await viewer.backend.patch("timeline", f"/v1/interactions/{interaction_id}", json=change)
    context = await _list_context(viewer, _who(viewer, form.get("who", "mine")), flash="followup.marked_done")
    return _after_change(request, viewer, context)


@router.post("/follow-up/items/{interaction_id}/move")
async def reminder_move(request: Request, interaction_id: UUID, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, edit=True)
    form = await _form(request)
    who = _who(viewer, form.get("who", "mine"))
    moment = from_local_input(form.get("due_at", ""), viewer.t.zone)
    if moment is None:
        errors = {str(interaction_id): "error.required" if not form.get("due_at") else "error.invalid"}
        return _after_change(request, viewer, await _list_context(viewer, who, errors), status=422)
    try:
        field = "scheduled_at" if form.get("kind") == "meeting" else "due_at"
        await viewer.backend.patch("timeline", f"/v1/interactions/{interaction_id}", json={field: moment.isoformat()})
    except ApiProblem as problem:
        if problem.status != 422:
            raise
        errors = {str(interaction_id): next(iter(form_errors(problem).values()), "error.invalid")}
        return _after_change(request, viewer, await _list_context(viewer, who, errors), status=422)
    return _after_change(request, viewer, await _list_context(viewer, who, flash="followup.moved"))


# ------------------------------------------------------------------------------- logging calls


@router.get("/follow-up/call")
async def call_form(request: Request, viewer: ViewerDep, customer_id: str = "") -> HTMLResponse:
    """The compact call form, for the card of a row (`customer_id`) or for a number typed in."""
    _require(viewer, edit=True)
    card = None
    if customer_id:
        try:
            UUID(customer_id)
        except ValueError:
            customer_id = ""
        else:
            card = await _card(viewer, customer_id)
    values = {"customer_id": customer_id if card else ""}
    context = _call_context(viewer, values, card=card) | {"logged": None}
    return render(request, "partials/followup_call.html", context, viewer=viewer)


@router.post("/follow-up/call")
async def log_call(request: Request, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, edit=True)
    form = await _form(request)
    values = {
        "number": form.get("number", ""),
        "customer_id": form.get("customer_id", ""),
        "outcome": form.get("outcome", ""),
        "direction": "inbound" if form.get("direction") == "inbound" else "outbound",
        "summary": form.get("summary", ""),
    }
    errors: dict[str, str] = {}
    card: dict[str, Any] | None = None
    if values["customer_id"]:
        card = await _card(viewer, values["customer_id"])
        if card is None:
            values["customer_id"] = ""
            errors["number"] = "followup.call.no_card"
    elif not values["number"]:
        errors["number"] = "error.required"
    elif not values["number"].isdigit() or len(values["number"]) > 9:
        errors["number"] = "error.invalid"
    else:
        try:
            card = await viewer.backend.get("customer", f"/v1/customers/by-number/{values['number']}")
        except ApiProblem as problem:
            if problem.status not in (403, 404, 422):
                raise
            errors["number"] = "followup.call.no_card"
    if values["outcome"] not in OUTCOMES:
        errors["outcome"] = "followup.call.pick_outcome"
    if errors or card is None:
        return await _call_answer(request, viewer, values, errors, card)
    body: dict[str, Any] = {"customer_id": card["id"], "kind": "call", "direction": values["direction"], "outcome": values["outcome"]}
    if values["summary"]:
        body["summary"] = values["summary"]
    try:
        await viewer.backend.post("timeline", "/v1/interactions", json=body)
    except ApiProblem as problem:
        if problem.status != 422:
            raise
        for api_field, key in form_errors(problem).items():
            name = "number" if api_field == "customer_id" else api_field
            errors[name if name in values else "summary"] = "followup.call.no_card" if name == "number" else key
        return await _call_answer(request, viewer, values, errors, card)
    logged = {"customer_id": card["id"], "name": card_name(card), "before": card.get("status", ""), "outcome": values["outcome"]}
    context = _call_context(viewer) | {"logged": logged}
    if not is_htmx(request):
        return await _call_page(request, viewer, context)
    return render(request, "partials/followup_call.html", context, viewer=viewer, status=201)


async def _call_page(request: Request, viewer: Viewer, call_context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """Without htmx: the whole page around the call form's answer."""
    context = await _list_context(viewer, _who(viewer, "mine")) | call_context | {"has_rep": bool(viewer.rep_id)}
    return render(request, "pages/followup.html", context, viewer=viewer, status=status)


async def _call_answer(
    request: Request, viewer: Viewer, values: dict[str, Any], errors: dict[str, str], card: dict[str, Any] | None
) -> HTMLResponse:
    context = _call_context(viewer, values, errors, card if values["customer_id"] else None) | {"logged": None}
    if not is_htmx(request):
        return await _call_page(request, viewer, context, status=422)
    return render(request, "partials/followup_call.html", context, viewer=viewer, status=422)


@router.get("/follow-up/card/{customer_id}/status")
async def card_status(request: Request, customer_id: UUID, viewer: ViewerDep, before: str = "", n: int = 0) -> HTMLResponse:
    """The card as it is now, and its latest timeline entries: re-read each second after a call
    until the status moved (or the screen stops waiting)."""
    _require(viewer)
    card, timeline = await gather(
        viewer.backend.get("customer", f"/v1/customers/{customer_id}"),
        viewer.backend.get("timeline", f"/v1/customers/{customer_id}/timeline", params={"limit": 3}),
    )
    status = card.get("status", "")
    moved = bool(before) and status != before
    context = {
        "customer_id": str(customer_id),
        "status": status,
        "before": before,
        "moved": moved,
        "entries": timeline.get("items", []) if isinstance(timeline, dict) else [],
        "poll": not moved and n < POLLS,
        "n": n + 1,
    }
    return render(request, "partials/followup_status.html", context, viewer=viewer)
